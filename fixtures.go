package sxbisect

import "embed"

// DemoFiles holds the miniature SX world under testdata/demo that
// `sxbisect demo` turns into a git history and bisects: a tiny C host of
// the evaluator, a core library, three guest languages with their suites,
// and the plans that narrate them. The files are the tip of that history;
// internal/demo derives every earlier commit from them.
//
// It is embedded so the demo runs from the installed binary, with no
// checkout of this repository at hand. It is read-only data: embed.FS has no
// way to change it, and nothing should reassign the variable.
//
//go:embed all:testdata/demo
var DemoFiles embed.FS
