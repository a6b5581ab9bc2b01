// Command genrepo writes a large repository for compare-git.sh: thousands
// of files in nested directories and thousands of commits on a main line
// with side branches merged back, each commit changing a few files. One
// main-line commit in the middle adds the file BUG, which every later
// main-line commit keeps, so a bisection with `test ! -e BUG` has exactly one
// answer.
//
//	go run ./testdata/bench/genrepo -dir /tmp/repo [-files 4000] [-commits 3000] [-linear]
//
// With -linear the history is one line without merges, each commit after
// the first changing one small file: the shape of a history of a million
// commits (about five minutes to generate here, with 1000 files), whose
// start-up cost is what BenchmarkPrepare in package bisect compares with
// git.
//
// It prints one line, "good=<sha> bad=<sha> first_bad=<sha>", for the
// script to read.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

func main() {
	dir := flag.String("dir", "", "where to make the repository (must not exist yet)")
	files := flag.Int("files", 4000, "files in the tree")
	commits := flag.Int("commits", 3000, "commits in all, merges included")
	linear := flag.Bool("linear", false, "one line of commits, each changing one small file")
	flag.Parse()
	if *dir == "" || *files < 100 || *commits < 100 {
		fmt.Fprintln(os.Stderr, "usage: genrepo -dir DIR [-files N>=100] [-commits N>=100] [-linear]")
		os.Exit(2)
	}
	list, bug := history(*files, *commits)
	if *linear {
		list, bug = linearHistory(*files, *commits)
	}
	hashes, err := gitfixture.Build(*dir, list)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("good=%s bad=%s first_bad=%s\n", hashes[0], hashes[len(hashes)-1], hashes[bug])
}

// filePath spreads the files over four levels of directories, as a source
// tree does, so that checkouts create and walk real directory structure.
func filePath(i int) string {
	return fmt.Sprintf("src%d/mod%d/pkg%d/sub%d/file%d.c", i%8, i/8%10, i/80%5, i/400%3, i)
}

// content is about 600 bytes, different for every file and version, so
// that no two blobs are shared and every change writes a real file.
func content(i, version int) string {
	return strings.Repeat(fmt.Sprintf("int f%d_v%d(void) { return %d; }\n", i, version, i+version), 20)
}

// history returns the commits, oldest first, and the index of the one that
// adds BUG. Every sideEvery commits a side branch forks from the main line;
// its commits alternate with main-line ones and a merge then joins it, so
// the graph has the shape bisection has to handle: merges whose second
// parent is older than the first.
func history(files, n int) ([]gitfixture.Commit, int) {
	const (
		sideEvery  = 40
		sideLength = 3
		perCommit  = 3 // files changed by each commit
	)
	first := gitfixture.Commit{Time: 1_600_000_000, Files: map[string]string{}, Message: "import"}
	for i := 0; i < files; i++ {
		first.Files[filePath(i)] = content(i, 0)
	}
	list := []gitfixture.Commit{first}
	mainTip, sideTip := 0, -1
	var sideFiles map[string]string
	sideLeft := 0
	bug := -1
	change := func(c int) map[string]string {
		m := map[string]string{}
		for j := 0; j < perCommit; j++ {
			i := (c*7919 + j*1009) % files
			m[filePath(i)] = content(i, c)
		}
		return m
	}
	for len(list) < n {
		c := len(list)
		commit := gitfixture.Commit{Time: int64(1_600_000_000 + 60*c), Files: change(c)}
		switch {
		case sideTip < 0 && c%sideEvery == 0 && n-c > 2*sideLength+2:
			// Fork a side branch from the main line.
			commit.Parents = []int{mainTip}
			commit.Message = fmt.Sprintf("side %d", c)
			sideTip, sideLeft = c, sideLength-1
			sideFiles = commit.Files
		case sideTip >= 0 && sideLeft > 0 && c%2 == 1:
			commit.Parents = []int{sideTip}
			commit.Message = fmt.Sprintf("side %d", c)
			sideTip, sideLeft = c, sideLeft-1
			for k, v := range commit.Files {
				sideFiles[k] = v
			}
		case sideTip >= 0 && sideLeft == 0:
			// The merge takes the main line's tree and the side branch's
			// changes, as a clean merge would.
			commit.Parents = []int{mainTip, sideTip}
			commit.Message = fmt.Sprintf("Merge side branch into main (%d)", c)
			for k, v := range sideFiles {
				commit.Files[k] = v
			}
			mainTip, sideTip = c, -1
		default:
			commit.Parents = []int{mainTip}
			commit.Message = fmt.Sprintf("change %d", c)
			if bug < 0 && c >= n/2 {
				commit.Files["BUG"] = "the regression\n"
				commit.Message = fmt.Sprintf("change %d: the regression", c)
				bug = c
			}
			mainTip = c
		}
		list = append(list, commit)
	}
	// Bisection needs bad to be the main line's tip.
	if mainTip != len(list)-1 {
		panic("history does not end on the main line")
	}
	return list, bug
}

// linearHistory returns n commits in one line: the first holds the files,
// small ones, and each later commit rewrites one of them; the one in the
// middle adds BUG, which every later commit keeps.
func linearHistory(files, n int) ([]gitfixture.Commit, int) {
	first := map[string]string{}
	for i := 0; i < files; i++ {
		first[filePath(i)] = fmt.Sprintf("int f%d;\n", i)
	}
	bug := n / 2
	list := gitfixture.Linear(n, func(c int) map[string]string {
		if c == 0 {
			return first
		}
		return map[string]string{filePath(c % files): fmt.Sprintf("int f%d_v%d;\n", c%files, c)}
	})
	list[bug].Files["BUG"] = "the regression\n"
	list[bug].Message += ": the regression"
	return list, bug
}
