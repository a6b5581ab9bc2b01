// Package report renders what bisection sessions did, from their journals,
// as the progress log of an investigation: Markdown to read or paste,
// one self-contained HTML page, and JSON for programs.
//
// Build takes one or more Sessions (a batch passes several) and returns a
// Report. For the whole report it says what ran, how long it took, how
// busy the machine was (the 1-minute load averages the measured runs
// recorded before and after themselves) and what is unfinished. For each
// session it gives:
//
//   - the verdict: the first bad commit, the candidates left, no
//     regression, or how far an unfinished session got and how to resume;
//   - the first bad commit: id, subject, author, date and changed files;
//   - the evidence: the baseline, the first bad commit's parent and the
//     first bad commit side by side, with each metric's median, its ratio
//     to the baseline (and the ratio the predicate judged, with its
//     confidence interval) and every sample;
//   - every step: commit, subject, kind, verdict, reason, main metrics and
//     duration;
//   - the sxbisect start command that runs the session again.
//
// The HTML page adds, for each metric that bears on the verdict (see
// Chart), an SVG chart of the metric against the commits' order in the
// range (by commit date): every run of each tested commit, its spread and
// median, the baseline and the threshold, the first bad commit marked,
// titled axes with units and round ticks. Each step links its logs
// (Report.CopyLogs puts them beside the page). It loads nothing from
// elsewhere; everything from the journal or the repository is escaped by
// html/template.
//
// The JSON format is Report marshalled: its fields' doc comments are the
// schema.
package report
