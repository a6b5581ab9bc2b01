package run

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// machineSample is the state of the whole machine at one moment: enough to
// tell afterwards whether the machine, rather than the run, was busy or
// short of memory.
type machineSample struct {
	at time.Time
	// load is the 1-minute load average, -1 if unknown.
	load float64
	// oomKills is the machine's count of OOM kills (/proc/vmstat), -1 if
	// unknown.
	oomKills int64
	// cpuStall is the machine's total time in which some task waited for a
	// CPU (/proc/pressure/cpu), -1 if unknown.
	cpuStall time.Duration
}

func sampleMachine() machineSample {
	s := machineSample{at: time.Now(), load: -1, oomKills: -1, cpuStall: -1}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if fields := strings.Fields(string(data)); len(fields) > 0 {
			if load, err := strconv.ParseFloat(fields[0], 64); err == nil {
				s.load = load
			}
		}
	}
	// oom_kill appeared in /proc/vmstat with Linux 4.13.
	if vmstat, err := readKeyed("/proc/vmstat"); err == nil {
		if n, ok := vmstat["oom_kill"]; ok {
			s.oomKills = n
		}
	}
	if stall, err := readPressureTotal("/proc/pressure/cpu"); err == nil {
		s.cpuStall = stall
	}
	return s
}

// readPressureTotal returns the "some" total of a PSI file (cpu.pressure,
// /proc/pressure/cpu): the time in which at least one task waited.
// A kernel with PSI compiled in but disabled fails the read.
func readPressureTotal(file string) (time.Duration, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, "some ")
		if !ok {
			continue
		}
		for _, field := range strings.Fields(rest) {
			if total, ok := strings.CutPrefix(field, "total="); ok {
				usec, err := strconv.ParseInt(total, 10, 64)
				if err != nil {
					return 0, err
				}
				return time.Duration(usec) * time.Microsecond, nil
			}
		}
	}
	return 0, strconv.ErrSyntax
}

// share returns part/whole clamped to [0, 1].
func share(part, whole time.Duration) float64 {
	if whole <= 0 {
		return 0
	}
	r := float64(part) / float64(whole)
	return min(max(r, 0), 1)
}

// peakSampler polls a memory figure and keeps its maximum, where nothing
// keeps a high-water mark for us. It misses peaks shorter than its
// interval. The first sample is taken after one interval: a run shorter
// than that costs nothing, and MaxRSS covers its main process.
type peakSampler struct {
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
	peak     int64 // written by the sampling goroutine until done is closed
	interval time.Duration
}

func startPeakSampler(interval time.Duration, read func() int64) *peakSampler {
	p := &peakSampler{stop: make(chan struct{}), done: make(chan struct{}), interval: interval}
	go func() {
		defer close(p.done)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-ticker.C:
			}
			p.peak = max(p.peak, read())
		}
	}()
	return p
}

// finish stops the sampling and returns the peak; it may be called again.
func (p *peakSampler) finish() int64 {
	p.once.Do(func() { close(p.stop) })
	<-p.done
	return p.peak
}

// membersRSS sums the resident sets of the processes listed in a
// cgroup.procs file.
func membersRSS(procsFile string) int64 {
	var total int64
	for _, pid := range readPids(procsFile) {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
		if err != nil {
			continue
		}
		if fields := strings.Fields(string(data)); len(fields) > 1 {
			if pages, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				total += pages * int64(os.Getpagesize())
			}
		}
	}
	return total
}

// groupRSS sums the resident sets of the members of process group pgid,
// found by reading every process's stat.
func groupRSS(pgid int) int64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	want := strconv.Itoa(pgid)
	var total int64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fields := procStatFields(pid)
		// After the command name: state, ppid, pgrp, ... rss is the 22nd.
		if len(fields) < 22 || fields[2] != want {
			continue
		}
		if pages, err := strconv.ParseInt(fields[21], 10, 64); err == nil {
			total += pages * int64(os.Getpagesize())
		}
	}
	return total
}

// procStatFields returns the fields of /proc/pid/stat after the command
// name (which may hold spaces and parentheses): state first, then ppid.
func procStatFields(pid int) []string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(data)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return nil
	}
	return strings.Fields(s[end+1:])
}
