package predicate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sxbisect/sxbisect/internal/text"
)

// fileState is what a scoreboard file was before a run, to tell a file
// the run wrote from one left over by an earlier run.
type fileState struct {
	info os.FileInfo // nil when there was none
}

func statFile(dir, rel string) fileState {
	info, err := os.Stat(filepath.Join(dir, rel))
	if err != nil {
		return fileState{}
	}
	return fileState{info: info}
}

// unchanged reports whether info is the file seen before, untouched.
func (f fileState) unchanged(info os.FileInfo) bool {
	return f.info != nil && os.SameFile(f.info, info) && f.info.ModTime().Equal(info.ModTime()) && f.info.Size() == info.Size()
}

// readScoreboardFile reads the pass and total counts from the JSON file
// rel in dir, which the run must have written; problem says what is wrong
// otherwise.
func readScoreboardFile(dir, rel string, before fileState) (pass, total float64, problem string) {
	path := filepath.Join(dir, rel)
	info, err := os.Stat(path)
	if err != nil {
		return 0, 0, "scoreboard file " + rel + " missing"
	}
	if before.unchanged(info) {
		return 0, 0, "scoreboard file " + rel + " not written by the test"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, "scoreboard file " + rel + ": " + text.OneLine(err.Error())
	}
	pass, total, err = parseScoreboard(data)
	if err != nil {
		return 0, 0, "scoreboard file " + rel + ": " + text.OneLine(err.Error())
	}
	return pass, total, ""
}

// Keys of a scoreboard file, lower case (keys are matched ignoring case),
// space-separated.
const (
	passKeys     = "pass passed passes ok passing"
	totalKeys    = "total count tests"
	failKeys     = "fail failed fails failures"
	nestedKeys   = "totals total summary overall scoreboard score results result"
	fractionKeys = "total scoreboard score results result"
)

// parseScoreboard reads the shapes SuiteConfig.ScoreboardFile lists.
func parseScoreboard(data []byte) (pass, total float64, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return 0, 0, fmt.Errorf("not JSON: %v", err)
	}
	obj, ok := lowerKeys(v)
	if !ok {
		return 0, 0, fmt.Errorf(`not a JSON object: write {"pass":N,"total":M}`)
	}
	if p, t, ok := countsIn(obj); ok {
		return p, t, nil
	}
	for _, key := range strings.Fields(nestedKeys) {
		sub, present := obj[key]
		if !present {
			continue
		}
		if inner, ok := lowerKeys(sub); ok {
			if p, t, ok := countsIn(inner); ok {
				return p, t, nil
			}
		}
		if s, ok := sub.(string); ok && slices.Contains(strings.Fields(fractionKeys), key) {
			if p, t, ok := fraction(s); ok {
				return p, t, nil
			}
		}
	}
	return 0, 0, fmt.Errorf(`no pass and total counts: write {"pass":N,"total":M}`)
}

func lowerKeys(v any) (map[string]any, bool) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	out := make(map[string]any, len(obj))
	for k, x := range obj {
		out[strings.ToLower(k)] = x
	}
	return out, true
}

// countsIn finds a pass count and a total (or a failure count) in obj.
func countsIn(obj map[string]any) (pass, total float64, ok bool) {
	pass, ok = firstCount(obj, passKeys)
	if !ok {
		return 0, 0, false
	}
	if total, ok = firstCount(obj, totalKeys); ok {
		return pass, total, true
	}
	if fail, ok := firstCount(obj, failKeys); ok {
		return pass, pass + fail, true
	}
	return 0, 0, false
}

func firstCount(obj map[string]any, keys string) (float64, bool) {
	for _, k := range strings.Fields(keys) {
		switch x := obj[k].(type) {
		case json.Number:
			if f, err := x.Float64(); err == nil && f >= 0 {
				return f, true
			}
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil && f >= 0 {
				return f, true
			}
		}
	}
	return 0, false
}

// fraction reads "530/530".
func fraction(s string) (pass, total float64, ok bool) {
	a, b, found := strings.Cut(s, "/")
	if !found {
		return 0, 0, false
	}
	p, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	t, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if err1 != nil || err2 != nil || p < 0 || t < 0 {
		return 0, 0, false
	}
	return p, t, true
}
