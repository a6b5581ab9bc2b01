package demo

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/sxbisect/sxbisect"
)

// root is where the miniature lives inside sxbisect.DemoFiles.
const root = "testdata/demo"

// source is the embedded miniature, cut into the pieces that the history
// adds one commit at a time. The embedded files are the tip of the history:
// every file is the concatenation of its chunks, and the C host's code is
// wrapped in feature markers that earlier commits leave out.
type source struct {
	files    map[string]*file
	paths    []string        // sorted, for stable output
	features map[string]bool // every feature a marker names
}

// file is one file of the miniature. Files that grow over the history have
// a header chunk (a comment or a title) followed by the pieces that commits
// add; the others are a single chunk.
type file struct {
	path   string
	chunks []string
}

// grows reports whether the history adds the file piece by piece.
func (f *file) grows() bool { return len(f.chunks) > 1 }

// marker parses a feature marker line in C, SX, shell or Makefile syntax:
// "/* @feature jit-lazy */", "; @feature !tco", "# @end". It reports the
// feature's name and whether it is negated, or end for "@end"; ok is false
// for any other line.
func marker(line string) (name string, negated, end, ok bool) {
	if !strings.Contains(line, "@") {
		return "", false, false, false
	}
	s := strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(s, "/*") && strings.HasSuffix(s, "*/"):
		s = s[2 : len(s)-2]
	case strings.HasPrefix(s, ";"):
		s = strings.TrimLeft(s, ";")
	case strings.HasPrefix(s, "#"):
		s = s[1:]
	default:
		return "", false, false, false
	}
	s = strings.TrimSpace(s)
	if s == "@end" {
		return "", false, true, true
	}
	name, found := strings.CutPrefix(s, "@feature ")
	name = strings.TrimSpace(name)
	name, negated = strings.CutPrefix(name, "!")
	if !found || name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return "", false, false, false
	}
	return name, negated, false, true
}

// loadSource reads and cuts the embedded miniature.
func loadSource() (*source, error) {
	src := &source{files: map[string]*file{}, features: map[string]bool{}}
	err := fs.WalkDir(sxbisect.DemoFiles, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(sxbisect.DemoFiles, p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, root+"/")
		text := string(data)
		for _, line := range strings.Split(text, "\n") {
			if name, _, _, ok := marker(line); ok && name != "" {
				src.features[name] = true
			}
		}
		if _, err := strip(text, nil); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		src.files[rel] = &file{path: rel, chunks: cut(rel, text)}
		src.paths = append(src.paths, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("demo source: %w", err)
	}
	if len(src.paths) == 0 {
		return nil, fmt.Errorf("demo source: nothing embedded under %s", root)
	}
	sort.Strings(src.paths)
	return src, nil
}

// cut splits a file into the chunks the history adds. Test files grow one
// top-level form at a time, with the comment lines just above it; other SX
// files grow one blank-line-separated block at a time; Markdown grows one
// "## " section at a time; anything else arrives whole.
func cut(rel, text string) []string {
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	blank := func(i int) bool { return strings.TrimSpace(lines[i]) == "" }
	var starts []int
	switch {
	case strings.HasSuffix(rel, ".sx") && strings.Contains(rel, "/tests/"):
		for i, l := range lines {
			if strings.HasPrefix(l, "(") {
				j := i
				for j > 0 && strings.HasPrefix(lines[j-1], ";") {
					j--
				}
				starts = append(starts, j)
			}
		}
	case strings.HasSuffix(rel, ".sx"):
		for i := 1; i < len(lines); i++ {
			if !blank(i) && blank(i-1) {
				starts = append(starts, i)
			}
		}
	case strings.HasSuffix(rel, ".md"):
		for i, l := range lines {
			if strings.HasPrefix(l, "## ") {
				starts = append(starts, i)
			}
		}
	}
	if len(starts) == 0 || starts[0] == 0 {
		return []string{text}
	}
	chunks := []string{strings.Join(lines[:starts[0]], "")}
	for k, s := range starts {
		end := len(lines)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		chunks = append(chunks, strings.Join(lines[s:end], ""))
	}
	return chunks
}

// strip keeps the lines of text that the given features switch on and drops
// the marker lines. "@feature x" keeps its block when x is on, "@feature !x"
// when it is off; blocks nest.
func strip(text string, on map[string]bool) (string, error) {
	if !strings.Contains(text, "@feature") && !strings.Contains(text, "@end") {
		return text, nil
	}
	var out strings.Builder
	var keep []bool
	for _, line := range strings.SplitAfter(text, "\n") {
		if name, negated, end, ok := marker(line); ok {
			if !end {
				keep = append(keep, on[name] != negated)
			} else if len(keep) == 0 {
				return "", fmt.Errorf("@end without @feature")
			} else {
				keep = keep[:len(keep)-1]
			}
			continue
		}
		visible := true
		for _, k := range keep {
			visible = visible && k
		}
		if visible {
			out.WriteString(line)
		}
	}
	if len(keep) != 0 {
		return "", fmt.Errorf("@feature without @end")
	}
	return out.String(), nil
}

// subject describes chunk i of a file as a commit subject: the area the file
// belongs to, then the chunk's own words (its first comment or heading, or
// the test or definition it adds).
func (f *file) subject(i int) string {
	c := f.chunks[i]
	first, _, _ := strings.Cut(c, "\n")
	words := strings.TrimSpace(first)
	switch {
	case strings.HasPrefix(first, "## "):
		words = strings.TrimPrefix(first, "## ")
	case strings.HasPrefix(first, ";"):
		words = strings.TrimSpace(strings.TrimLeft(first, ";"))
	case strings.HasPrefix(first, `(test "`):
		words, _, _ = strings.Cut(strings.TrimPrefix(first, `(test "`), `"`)
	case strings.HasPrefix(first, "(define ("):
		words, _, _ = strings.Cut(strings.TrimPrefix(first, "(define ("), " ")
	}
	return area(f.path) + words
}

// area is the subject prefix for a path, in the style of the SX log:
// "tcl: ", "tcl: test ", "spec: ", "plans: ", "docs: ".
func area(p string) string {
	parts := strings.Split(p, "/")
	switch {
	case parts[0] == "lib" && len(parts) > 3 && parts[2] == "tests":
		return parts[1] + ": test "
	case parts[0] == "lib" && len(parts) > 2:
		return parts[1] + ": "
	case parts[0] == "hosts":
		return "server: "
	case len(parts) == 1:
		return "docs: "
	case parts[0] == "plans" && len(parts) == 2:
		return "plans: " + strings.TrimSuffix(parts[1], ".md") + ": "
	}
	return strings.TrimSuffix(parts[0], path.Ext(parts[0])) + ": "
}
