// Package binarysize is the predicate "binary-size": a commit is bad when
// a file it builds, such as the server executable, is too large, compared
// with the good commit or with a fixed limit. It is also the worked
// example of a predicate written in Go, and this documentation is the
// tutorial; the source is short enough to read whole.
//
// # Using it
//
// Name it, with its parameters, in .sxbisect.toml at the top of the
// checkout:
//
//	[predicate.size]
//	use = "binary-size"
//	params = { file = "_build/sx_server", max-growth = "1.05" }
//
// and bisect with 'sxbisect start --build "make sx_server" --predicate size
// v1.4 main'. The parameters:
//
//	file        the file to weigh, relative to the worktree (required)
//	max-growth  bad when the file is more than this many times its size at
//	            the good commit: 1.05 allows 5% growth
//	max-bytes   bad when the file is larger than this many bytes
//
// At least one of max-growth and max-bytes is needed; with both, either
// makes a commit bad. A commit where the file is missing after the build
// is skipped. The metrics are size_bytes, and with max-growth
// baseline_size_bytes and growth (the ratio).
//
// # Writing a predicate
//
// A predicate is a type with two methods (see package predicate for the
// full contract):
//
//	Name() string
//	Judge(ctx context.Context, c predicate.Candidate) (predicate.Judgement, error)
//
// Judge is called once for each commit, after the commit has been checked
// out in c.Dir and the build has run there. It answers predicate.Good,
// predicate.Bad, or predicate.Skip for a commit it cannot judge, with a
// Reason of a few words and, if it has any, Metrics for the journal and
// the result. A test that fails is Bad, not an error: an error stops the
// whole session, so return one only when no verdict can be trusted, as a
// *predicate.AbortError when the user has to fix something, and ctx.Err()
// when ctx is cancelled. Keep no state between calls: commits come in the
// order the search chooses, and one may be judged again.
//
// A predicate that runs a program should run it with package
// predicate/run, which gives it its own process group, kills the whole
// tree at a timeout or on Ctrl-C, and measures it.
//
// # Comparing with the good commit
//
// Predicate also implements predicate.Baseliner. Before the search, the
// session checks the good commit out in a worktree of its own, builds it,
// and calls MeasureBaseline there once; the result is kept in the journal
// (a resumed session does not measure it again) and comes back to every
// Judge in c.Baseline. An optional method NeedsBaseline() bool lets a
// predicate that compares only under some parameters, as this one does
// only with max-growth, spare the session that build.
//
// # Registering it
//
// To be selectable by name, a predicate registers a factory in an init
// function, in the way database/sql drivers register, with a line that
// 'sxbisect predicates' shows:
//
//	func init() {
//		predicate.Register("binary-size", New)
//		predicate.Describe("binary-size", "bad when a built file grows ... (params: file, ...)")
//	}
//
// The factory gets the parameters as strings, and rejects a parameter it
// does not know and a value it cannot read with a one-line error naming
// the parameter, so that a typo fails before a night of bisecting. Two
// packages registering one name make the program panic when it starts.
//
// # Building sxbisect with it
//
// Registration happens when the package is linked in, so a predicate is
// available once the program imports its package, for that side effect
// only. In a module of your own, a main package of three lines builds an
// sxbisect with your predicates beside the ones it comes with:
//
//	package main
//
//	import (
//		"os"
//
//		"github.com/sxbisect/sxbisect/cmd/sxbisect/cli"
//		_ "github.com/sxbisect/sxbisect/predicate/binarysize"
//		_ "example.com/ourteam/sxpredicates" // your own
//	)
//
//	func main() { os.Exit(cli.Run(os.Args[1:])) }
//
// Then 'go build -o sxbisect .' and 'sxbisect predicates' lists
// binary-size among the predicates built in. Within a clone of sxbisect,
// a file in cmd/sxbisect with the blank imports does the same.
//
// A predicate that needs nothing from Go can instead be a program in any
// language, found on PATH with no rebuilding: see package
// predicate/plugin.
package binarysize

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/sxbisect/sxbisect/predicate"
)

// Name is the name the predicate is registered under.
const Name = "binary-size"

func init() {
	predicate.Register(Name, New)
	predicate.Describe(Name, "bad when a built file grows past a factor of the good commit's, or a size (params: file, max-growth, max-bytes)")
}

// Predicate weighs a file that the build makes.
type Predicate struct {
	// File is the file, relative to the worktree.
	File string
	// MaxGrowth, when non-zero, is the largest allowed ratio of the
	// file's size to its size at the good commit.
	MaxGrowth float64
	// MaxBytes, when non-zero, is the largest allowed size.
	MaxBytes int64
}

// The metrics.
const (
	metricSize     = "size_bytes"
	metricBaseline = "baseline_size_bytes"
	metricGrowth   = "growth"
)

// Name returns "binary-size".
func (p Predicate) Name() string { return Name }

// NeedsBaseline reports whether Judge compares with the good commit, so
// that the session measures the baseline only then.
func (p Predicate) NeedsBaseline() bool { return p.MaxGrowth > 0 }

// MeasureBaseline weighs the file at the good commit, in c.Dir. The good
// commit must have it: with no size to compare with, no commit can be
// judged.
func (p Predicate) MeasureBaseline(ctx context.Context, c predicate.Candidate) (*predicate.Baseline, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	size, err := p.size(c.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &predicate.AbortError{Reason: fmt.Sprintf("%s: the good commit %s has no %s after its build: check the file parameter and the build command", Name, c.Commit, p.File)}
	}
	if err != nil {
		return nil, err
	}
	metrics := map[string]float64{metricSize: float64(size)}
	return &predicate.Baseline{
		Commit:  c.Commit,
		Samples: []predicate.Sample{{Metrics: metrics, Quiet: true}},
		Metrics: metrics,
	}, nil
}

// Judge weighs the file in c.Dir.
func (p Predicate) Judge(ctx context.Context, c predicate.Candidate) (predicate.Judgement, error) {
	if err := ctx.Err(); err != nil {
		return predicate.Judgement{}, err
	}
	size, err := p.size(c.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return predicate.Judgement{Verdict: predicate.Skip, Reason: "no " + p.File + " after the build"}, nil
	}
	if err != nil {
		return predicate.Judgement{}, err
	}
	j := predicate.Judgement{
		Verdict: predicate.Good,
		Reason:  fmt.Sprintf("%s is %d bytes", p.File, size),
		Metrics: map[string]float64{metricSize: float64(size)},
	}
	if p.MaxBytes > 0 && size > p.MaxBytes {
		j.Verdict = predicate.Bad
		j.Reason = fmt.Sprintf("%s is %d bytes, over max-bytes %d", p.File, size, p.MaxBytes)
	}
	if p.MaxGrowth > 0 {
		var base float64
		var ok bool
		if c.Baseline != nil {
			base, ok = c.Baseline.Metrics[metricSize]
		}
		if !ok {
			return predicate.Judgement{}, fmt.Errorf("%s: max-growth compares with the good commit, and no baseline size was measured there", Name)
		}
		j.Metrics[metricBaseline] = base
		// A commit already bad by max-bytes keeps that reason.
		switch {
		case base == 0 && size > 0:
			// No ratio to an empty file: any growth is too much.
			if j.Verdict == predicate.Good {
				j.Verdict, j.Reason = predicate.Bad, fmt.Sprintf("%s is %d bytes, empty at the good commit", p.File, size)
			}
		case base > 0:
			growth := float64(size) / base
			j.Metrics[metricGrowth] = growth
			if j.Verdict == predicate.Good {
				j.Reason = fmt.Sprintf("%s is %d bytes, %+.1f%% from the good commit's %.0f", p.File, size, (growth-1)*100, base)
				if growth > p.MaxGrowth {
					j.Verdict = predicate.Bad
					j.Reason += fmt.Sprintf(", over max-growth %g", p.MaxGrowth)
				}
			}
		}
	}
	return j, nil
}

// size is the size of the file in the worktree dir.
func (p Predicate) size(dir string) (int64, error) {
	info, err := os.Stat(filepath.Join(dir, p.File))
	if err != nil {
		return 0, err
	}
	if !info.Mode().IsRegular() {
		return 0, fmt.Errorf("%s: %s is not a regular file", Name, p.File)
	}
	return info.Size(), nil
}

// New is the factory that init registers: it builds the predicate from
// the parameters file, max-growth and max-bytes.
func New(params map[string]string) (predicate.Predicate, error) {
	var p Predicate
	for name, value := range params {
		switch name {
		case "file":
			if value != "" && !filepath.IsLocal(value) {
				return nil, fmt.Errorf("%s: file %q must be a path inside the worktree, such as _build/sx_server", Name, value)
			}
			p.File = value
		case "max-growth":
			g, err := strconv.ParseFloat(value, 64)
			if err != nil || g < 1 {
				return nil, fmt.Errorf("%s: max-growth %q is not a ratio of 1 or more, such as 1.05 for 5%% growth", Name, value)
			}
			p.MaxGrowth = g
		case "max-bytes":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("%s: max-bytes %q is not a positive number of bytes", Name, value)
			}
			p.MaxBytes = n
		default:
			return nil, fmt.Errorf("%s: unknown parameter %q (valid: file, max-growth, max-bytes)", Name, name)
		}
	}
	if p.File == "" {
		return nil, fmt.Errorf("%s: parameter file (the file to weigh) is required", Name)
	}
	if p.MaxGrowth == 0 && p.MaxBytes == 0 {
		return nil, fmt.Errorf("%s: give max-growth, max-bytes or both", Name)
	}
	return p, nil
}
