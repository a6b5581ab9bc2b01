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

// peakSampler polls the memory of a tree's processes, where nothing keeps
// a high-water mark for the tree: the sum of their resident sets (or the
// cgroup's current usage), whose maximum misses peaks shorter than the
// interval, and each process's own high-water mark (VmHWM), which the
// kernel keeps, so that a process sampled once is known at its largest.
// The first samples come soon after the start, at a growing interval, so
// that a short run is seen too.
type peakSampler struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
	// Written by the sampling goroutine until done is closed: the largest
	// sum, and the largest high-water mark of one process.
	peak, largest int64
}

// firstSample is when the first sample is taken; the interval doubles
// from there up to the sampler's.
const firstSample = 2 * time.Millisecond

// startPeakSampler samples the processes members lists every interval;
// total, when not nil, replaces their sum (a cgroup's current usage).
func startPeakSampler(interval time.Duration, members func() []int, total func() int64) *peakSampler {
	p := &peakSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		wait := min(firstSample, interval)
		timer := time.NewTimer(wait)
		defer timer.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-timer.C:
			}
			var sum int64
			for _, pid := range members() {
				rss, hwm := processMemory(pid)
				sum += rss
				p.largest = max(p.largest, hwm)
			}
			if total != nil {
				sum = total()
			}
			p.peak = max(p.peak, sum)
			wait = min(2*wait, interval)
			timer.Reset(wait)
		}
	}()
	return p
}

// finish stops the sampling and returns the largest sum and the largest
// process's high-water mark; it may be called again.
func (p *peakSampler) finish() (peak, largest int64) {
	p.once.Do(func() { close(p.stop) })
	<-p.done
	return p.peak, p.largest
}

// processMemory returns the resident set of process pid and its
// high-water mark, in bytes; 0 for a process that is gone.
func processMemory(pid int) (rss, hwm int64) {
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	return statusKiB(status, "VmRSS:"), statusKiB(status, "VmHWM:")
}

// ownPeak returns this process's high-water mark (VmHWM) in bytes, 0 when
// it cannot be read.
func ownPeak() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	return statusKiB(status, "VmHWM:")
}

// statusKiB reads a "Key:   123 kB" line of /proc/pid/status, in bytes.
func statusKiB(status []byte, key string) int64 {
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				if n, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
					return n << 10
				}
			}
		}
	}
	return 0
}

// groupMembers lists the processes of process group pgid, found by reading
// every process's stat.
func groupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := strconv.Itoa(pgid)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// After the command name: state, ppid, pgrp.
		if fields := procStatFields(pid); len(fields) > 2 && fields[2] == want {
			pids = append(pids, pid)
		}
	}
	return pids
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
