package predicate

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ParseRatio reads a ratio bound as given in a flag or a parameter:
// "cpu=1.5", "wall=2", "mem=1.2"; a number alone, "1.5", bounds cpu.
func ParseRatio(s string) (Ratio, error) {
	metric, value, found := strings.Cut(strings.TrimSpace(s), "=")
	if !found {
		metric, value = MetricCPU, metric
	}
	metric, value = strings.ToLower(strings.TrimSpace(metric)), strings.TrimSpace(value)
	max, err := strconv.ParseFloat(value, 64)
	if err != nil {
		return Ratio{}, fmt.Errorf("ratio %q: %q is not a number: write e.g. cpu=1.5, wall=2 or mem=1.2", s, value)
	}
	r := Ratio{Metric: metric, Max: max}
	if err := r.validate(); err != nil {
		return Ratio{}, err
	}
	return r, nil
}

// ParseSize reads a size in bytes: plain bytes ("1048576"), or a number
// with K, M, G or T, optionally followed by i and B and in any case
// ("512M", "2G", "1.5GiB", "256mb"). Units are binary (M is 2^20), as the
// kernel's cgroup files, systemd and docker read them.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "b"), "i")
	shift := -1
	switch unit {
	case "":
		shift = 0
	case "k":
		shift = 10
	case "m":
		shift = 20
	case "g":
		shift = 30
	case "t":
		shift = 40
	}
	v, err := strconv.ParseFloat(num, 64)
	if shift < 0 || err != nil || v < 0 || strings.HasSuffix(strings.ToLower(t), "ib") && shift == 0 {
		return 0, fmt.Errorf("size %q is not understood: give bytes, or a number with K, M, G or T (binary), as in 512M, 2G or 1.5GiB", s)
	}
	bytes := v * math.Ldexp(1, shift)
	if bytes >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	if shift == 0 && bytes != math.Trunc(bytes) {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
	}
	return int64(bytes), nil
}

// formatSize writes a size for people: "512 MiB", "2 GiB", "1.5 GiB".
func formatSize(n int64) string {
	switch {
	case n >= 1<<30:
		return trimFloat(float64(n)/(1<<30)) + " GiB"
	case n >= 1<<20:
		return trimFloat(float64(n)/(1<<20)) + " MiB"
	case n >= 1<<10:
		return trimFloat(float64(n)/(1<<10)) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

func trimFloat(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// suiteParamNames lists the parameters of the "suite" factory.
const suiteParamNames = "baseline-repeat, expect, ignore-exit, log-cap, max-load, max-load-wait, max-ratio, max-repeat, memory-limit, on-crash, on-timeout, repeat, run, scoreboard, scoreboard-file, timeout"

// newSuiteFromParams is the "suite" factory. The parameters mirror
// SuiteConfig:
//
//	run              the test command (required)
//	timeout          a Go duration such as 30s or 10m, or plain seconds
//	on-timeout       skip, bad (default) or abort
//	on-crash         skip, bad or abort (default)
//	memory-limit     a size such as 512M (see ParseSize)
//	ignore-exit      true or false
//	expect           a regular expression one output line must match
//	scoreboard       a regular expression with groups pass and total
//	scoreboard-file  a JSON file in the worktree with pass and total
//	max-ratio        ratio bounds such as "cpu=1.5, mem=1.2" (see ParseRatio)
//	repeat, max-repeat, baseline-repeat   sample counts
//	max-load         a 1-minute load average to wait for
//	max-load-wait    how long to wait for it at most (a duration)
//	log-cap          a size such as 16M that bounds each run's log, or none
func newSuiteFromParams(params map[string]string) (Predicate, error) {
	var cfg SuiteConfig
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		value := params[name]
		var err error
		switch name {
		case "run":
			cfg.Run = value
		case "timeout":
			cfg.Timeout, err = parseDurationParam(value)
		case "on-timeout":
			cfg.OnTimeout, err = ParsePolicy(value)
		case "on-crash":
			cfg.OnCrash, err = ParsePolicy(value)
		case "memory-limit":
			cfg.MemoryLimit, err = ParseSize(value)
		case "ignore-exit":
			cfg.IgnoreExit, err = strconv.ParseBool(value)
			if err != nil {
				err = fmt.Errorf("%q is not true or false", value)
			}
		case "expect":
			cfg.Expect = value
		case "scoreboard":
			cfg.Scoreboard = value
		case "scoreboard-file":
			cfg.ScoreboardFile = value
		case "max-ratio":
			for _, field := range strings.FieldsFunc(strings.Trim(value, "[]"), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
				r, perr := ParseRatio(field)
				if perr != nil {
					err = perr
					break
				}
				cfg.Ratios = append(cfg.Ratios, r)
			}
		case "repeat":
			cfg.Repeat, err = parseCount(value)
		case "max-repeat":
			cfg.MaxRepeat, err = parseCount(value)
		case "baseline-repeat":
			cfg.BaselineRepeat, err = parseCount(value)
		case "max-load":
			cfg.MaxLoad, err = strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil {
				err = fmt.Errorf("%q is not a load average such as 2 or 1.5", value)
			}
		case "max-load-wait":
			cfg.MaxLoadWait, err = parseDurationParam(value)
		case "log-cap":
			cfg.LogCap = -1
			if !strings.EqualFold(strings.TrimSpace(value), "none") {
				cfg.LogCap, err = ParseSize(value)
			}
		default:
			return nil, fmt.Errorf("%s: unknown parameter %q (valid: %s)", SuiteName, name, suiteParamNames)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", SuiteName, name, err)
		}
	}
	if strings.TrimSpace(cfg.Run) == "" {
		return nil, fmt.Errorf("%s: parameter run (the test command) is required", SuiteName)
	}
	return NewSuite(cfg)
}

// parseDurationParam reads "30s", "10m" or plain seconds ("90").
func parseDurationParam(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if secs, err := strconv.ParseFloat(s, 64); err == nil && secs >= 0 && secs < math.MaxInt64/float64(time.Second) {
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 30s or 10m", s)
	}
	return d, nil
}

func parseCount(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a count of at least 1", s)
	}
	return n, nil
}

func init() {
	Register(SuiteName, newSuiteFromParams)
	Describe(SuiteName, "the test with start's conditions, as --run and its flags (params: run, max-ratio, memory-limit, expect, scoreboard, ...)")
}
