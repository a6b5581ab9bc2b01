package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
)

// WriteHTML writes the report as one self-contained HTML page: no
// scripts, no style sheets or fonts from elsewhere, charts as inline SVG.
// Everything taken from the journal or the repository is escaped.
func (r *Report) WriteHTML(w io.Writer) error {
	t, err := template.New("report").Funcs(template.FuncMap{
		"short":   text.ShortID,
		"time":    func(t time.Time) string { return t.Format(time.RFC3339) },
		"gitdate": text.GitDate,
		"dur":     func(s float64) string { return dur(s).String() },
		"f1":      func(x float64) string { return fmt.Sprintf("%.1f", x) },
		"plain":   func(s string) string { return strings.ReplaceAll(s, "`", "") },
		"logname": logName,
	}).Parse(htmlTemplate)
	if err != nil {
		return err
	}
	type sessionView struct {
		*SessionReport
		TermOld, TermNew string
		Ran              []string
		Evidence         [][]string
		Charts           []svgChart
		Beliefs          []string
		Heading          string
		Post             *posteriorChart
	}
	view := struct {
		*Report
		Lines    []string
		Sessions []sessionView
	}{Report: r, Lines: r.overviewLines()}
	for _, s := range r.Sessions {
		sv := sessionView{SessionReport: s, Ran: s.ranLines(), Heading: candidatesHeading(s.Outcome),
			TermOld: s.Spec.Terms().Old, TermNew: s.Spec.Terms().New}
		if s.Beliefs != nil {
			sv.Beliefs = beliefLines(s.Beliefs)
			sv.Post = layoutPosterior(s.Beliefs, s.FirstBad)
		}
		if s.Evidence != nil {
			sv.Evidence = s.Evidence.rows()
		}
		for _, c := range s.Charts {
			sv.Charts = append(sv.Charts, layout(c, s.Spec.Terms()))
		}
		view.Sessions = append(view.Sessions, sv)
	}
	return t.Execute(w, view)
}

// svgChart is a Chart laid out on the page.
type svgChart struct {
	Chart
	W, H, Left, Right, Top, Bottom float64
	// AxisY is the middle of the y axis, for its rotated title.
	AxisY          float64
	Line           string
	Commits        []svgCommit
	XTicks, YTicks []svgTick
	BaseY, ThreshY float64
	// FirstBadX is where the first bad commit stands (0: not charted),
	// FirstBadLabel what the marker says.
	FirstBadX     float64
	FirstBadLabel string
}

// svgCommit is one tested commit on a chart: every sample as a dot, the
// spread as a whisker from the least to the most, the median as a bar.
type svgCommit struct {
	X, MedianY, MinY, MaxY float64
	Class                  string
	Title                  string
	Samples                []svgDot
}

type svgDot struct {
	X, Y  float64
	Class string
	Title string
}

type svgTick struct {
	X, Y  float64
	Label string
}

// logName is what a log's link says, from the session's
// NNN-<commit>-<what>.log: "build", "test", "test 2" for the test's
// second run, "baseline 2" for the second fresh baseline run.
func logName(path string) string {
	name := strings.TrimSuffix(filepath.Base(path), ".log")
	parts := strings.SplitN(name, "-", 3)
	if len(parts) < 3 {
		return name
	}
	what := parts[2]
	if rest, ok := strings.CutPrefix(what, "test.baseline-"); ok {
		return "baseline " + rest
	}
	if rest, ok := strings.CutPrefix(what, "test."); ok {
		return "test " + rest
	}
	return what
}

// niceStep is a round step for about n ticks up to hi: 1, 2 or 5 times a
// power of ten.
func niceStep(hi float64, n int) float64 {
	raw := hi / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

// layout places a chart's commits: x by commit order, y from zero to a
// round number above the highest sample, the baseline and the threshold.
func layout(c Chart, terms bisect.Terms) svgChart {
	s := svgChart{Chart: c, W: 900, H: 340, Left: 80, Right: 880, Top: 20, Bottom: 250}
	s.AxisY = -(s.Top + s.Bottom) / 2
	hi := math.Max(c.Threshold, c.Baseline)
	lo, maxOrder := 0, 0
	for i, p := range c.Points {
		hi = math.Max(hi, p.Value)
		for _, v := range p.Samples {
			hi = math.Max(hi, v)
		}
		if i == 0 || p.Order < lo {
			lo = p.Order
		}
		maxOrder = max(maxOrder, p.Order)
	}
	if hi <= 0 {
		hi = 1
	}
	step := niceStep(hi, 4)
	top := math.Ceil(hi*1.02/step) * step
	x := func(order int) float64 {
		if maxOrder == lo {
			return (s.Left + s.Right) / 2
		}
		pad := 12.0
		return s.Left + pad + float64(order-lo)/float64(maxOrder-lo)*(s.Right-s.Left-2*pad)
	}
	y := func(v float64) float64 { return s.Bottom - v/top*(s.Bottom-s.Top) }
	var line []string
	lastOrder := -1
	for _, p := range c.Points {
		px := x(p.Order)
		line = append(line, fmt.Sprintf("%.1f,%.1f", px, y(p.Value)))
		class := string(predicate.Skip)
		if p.Verdict == predicate.Good || p.Verdict == predicate.Bad {
			class = string(p.Verdict)
		}
		samples := p.Samples
		if len(samples) == 0 {
			samples = []float64{p.Value}
		}
		sc := svgCommit{X: px, MedianY: y(p.Value), MinY: y(slices.Min(samples)), MaxY: y(slices.Max(samples)), Class: class,
			Title: fmt.Sprintf("%s %s: %s median %.3g of %d runs (%s)", text.ShortID(p.Commit), p.Subject, c.Metric, p.Value, len(samples), terms.Of(p.Verdict))}
		for k, v := range samples {
			// Samples side by side, so that equal values stay visible.
			dx := (float64(k) - float64(len(samples)-1)/2) * 2.5
			sc.Samples = append(sc.Samples, svgDot{X: px + dx, Y: y(v), Class: class, Title: fmt.Sprintf("%s run %d: %.3g", text.ShortID(p.Commit), k+1, v)})
		}
		s.Commits = append(s.Commits, sc)
		if p.Order != lastOrder {
			s.XTicks = append(s.XTicks, svgTick{X: px, Y: s.Bottom + 14, Label: p.Commit[:min(7, len(p.Commit))]})
			lastOrder = p.Order
		}
		if c.FirstBad != "" && p.Commit == c.FirstBad {
			s.FirstBadX = px
			s.FirstBadLabel = fmt.Sprintf("first %s %s", terms.New, text.ShortID(p.Commit))
		}
	}
	s.Line = strings.Join(line, " ")
	for v := 0.0; v <= top+step/2; v += step {
		s.YTicks = append(s.YTicks, svgTick{X: s.Left - 6, Y: y(v), Label: strconv.FormatFloat(v, 'g', 6, 64)})
	}
	if c.Baseline > 0 {
		s.BaseY = y(c.Baseline)
	}
	if c.Threshold > 0 {
		s.ThreshY = y(c.Threshold)
	}
	return s
}

const htmlTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sxbisect report</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; font-size: 90%; }
th { background: #f0f0f0; }
code, pre { font-family: monospace; background: #f6f6f6; }
pre { padding: 8px; white-space: pre-wrap; word-break: break-all; }
.good { color: #1a7f37; fill: #1a7f37; }
.bad { color: #c62828; fill: #c62828; }
.skip { color: #777; fill: #999; }
.verdict { font-size: 110%; }
svg text { font-size: 11px; fill: #333; }
svg .base { stroke: #1a7f37; stroke-dasharray: 6 4; }
svg .thresh { stroke: #c62828; stroke-dasharray: 2 3; }
svg .axis { stroke: #444; }
svg .series { fill: none; stroke: #9bb0d0; stroke-width: 1; }
svg .grid { stroke: #e6e6e6; }
svg .title { font-size: 12px; font-weight: bold; }
svg .whisker { stroke-width: 1.5; }
svg g.good { stroke: #1a7f37; }
svg g.bad { stroke: #c62828; }
svg g.skip { stroke: #999; }
svg g circle { fill-opacity: 0.55; stroke: none; }
svg g.good circle, svg g.good .median { fill: #1a7f37; }
svg g.bad circle, svg g.bad .median { fill: #c62828; }
svg g.skip circle, svg g.skip .median { fill: #999; }
svg .firstbad { stroke: #c62828; stroke-width: 1; stroke-dasharray: 4 3; }
blockquote { border-left: 3px solid #ccc; margin-left: 0; padding-left: 1em; white-space: pre-wrap; }
</style>
</head>
<body>
<h1>sxbisect report</h1>
<ul>{{range .Lines}}<li>{{plain .}}</li>{{end}}</ul>
{{range .Sessions}}{{$s := .}}{{$remote := .Remote}}
<section>
<h2>Session {{.Name}}: {{.State}}</h2>
<p class="verdict"><strong>Verdict:</strong> {{.Verdict}}.</p>
{{if .Message}}<blockquote>{{.Message}}</blockquote>{{end}}
<h3>What ran</h3>
<ul>{{range .Ran}}<li>{{plain .}}</li>{{end}}</ul>
{{with .FirstBad}}
<h3>First bad commit</h3>
<ul>
<li>commit: <code>{{.Commit}}</code></li>
<li>subject: {{.Subject}}</li>
<li>author: {{.Author}}</li>
<li>date: {{gitdate .Date}}</li>
{{range .Parents}}<li>parent: <code>{{short .}}</code></li>{{end}}
<li>files changed ({{len .Files}}): {{range .Files}}<code>{{.}}</code> {{end}}</li>
</ul>
{{end}}
{{if .Beliefs}}<h3>How sure</h3>
<ul>{{range .Beliefs}}<li>{{.}}</li>{{end}}</ul>
{{with .Post}}<svg width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img">
<line class="axis" x1="{{.Left}}" y1="{{.Bottom}}" x2="{{.Right}}" y2="{{.Bottom}}"/>
<line class="axis" x1="{{.Left}}" y1="{{.Top}}" x2="{{.Left}}" y2="{{.Bottom}}"/>
{{range .YTicks}}<text x="{{.X}}" y="{{.Y}}" text-anchor="end" dominant-baseline="middle">{{.Label}}</text>
{{end}}{{range .Bars}}<rect class="{{.Class}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect>
{{end}}<text x="{{.Left}}" y="{{.H}}" dy="-6">probability that each candidate is the first bad commit, oldest first; red: the answer</text>
<text transform="rotate(-90)" x="{{.AxisY}}" y="12" text-anchor="middle">P(first bad), %</text>
</svg>{{end}}
{{end}}
{{if .Candidates}}<h3>{{.Heading}}</h3>
<ul>{{range .Candidates}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
{{if .Evidence}}
<h3>Evidence</h3>
<table>
{{range $i, $row := .Evidence}}<tr>{{range $row}}{{if eq $i 0}}<th>{{plain .}}</th>{{else}}<td>{{.}}</td>{{end}}{{end}}</tr>
{{end}}</table>
{{end}}
{{range .Charts}}
<h3>{{.Title}}, by commit</h3>
<svg width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img">
{{$c := .}}{{range .YTicks}}<line class="grid" x1="{{$c.Left}}" y1="{{.Y}}" x2="{{$c.Right}}" y2="{{.Y}}"/>
<text x="{{.X}}" y="{{.Y}}" text-anchor="end" dominant-baseline="middle">{{.Label}}</text>
{{end}}<line class="axis" x1="{{.Left}}" y1="{{.Bottom}}" x2="{{.Right}}" y2="{{.Bottom}}"/>
<line class="axis" x1="{{.Left}}" y1="{{.Top}}" x2="{{.Left}}" y2="{{.Bottom}}"/>
<text class="title" transform="rotate(-90)" x="{{.AxisY}}" y="16" text-anchor="middle">{{.Title}}</text>
{{range .XTicks}}<text x="{{.X}}" y="{{.Y}}" text-anchor="end" transform="rotate(-40 {{.X}} {{.Y}})">{{.Label}}</text>
{{end}}{{if .BaseY}}<line class="base" x1="{{.Left}}" y1="{{.BaseY}}" x2="{{.Right}}" y2="{{.BaseY}}"/>
<text x="{{.Right}}" y="{{.BaseY}}" dy="13" text-anchor="end" class="good">baseline {{printf "%.3g" .Baseline}}</text>
{{end}}{{if .ThreshY}}<line class="thresh" x1="{{.Left}}" y1="{{.ThreshY}}" x2="{{.Right}}" y2="{{.ThreshY}}"/>
<text x="{{.Right}}" y="{{.ThreshY}}" dy="-4" text-anchor="end" class="bad">{{printf "%.3g" .Threshold}}: {{.ThresholdNote}}</text>
{{end}}{{if .FirstBadX}}<line class="firstbad" x1="{{.FirstBadX}}" y1="{{.Top}}" x2="{{.FirstBadX}}" y2="{{.Bottom}}"/>
<text x="{{.FirstBadX}}" y="{{.Top}}" dy="-6" text-anchor="middle" class="bad">{{.FirstBadLabel}}</text>
{{end}}<polyline class="series" points="{{.Line}}"/>
{{range .Commits}}<g class="{{.Class}}"><title>{{.Title}}</title>
<line class="whisker" x1="{{.X}}" y1="{{.MinY}}" x2="{{.X}}" y2="{{.MaxY}}"/>
{{range .Samples}}<circle cx="{{.X}}" cy="{{.Y}}" r="2.5"><title>{{.Title}}</title></circle>
{{end}}<rect class="median" x="{{.X}}" y="{{.MedianY}}" width="14" height="2.5" transform="translate(-7 -1.25)"/>
</g>
{{end}}<text x="{{$c.Left}}" y="{{$c.H}}" dy="-6">commits in range order, oldest first (by commit date); each dot one run, the bar the median; red: {{$s.TermNew}}, green: {{$s.TermOld}}, grey: skipped</text>
</svg>
{{end}}
<h3>Steps ({{len .Steps}})</h3>
<table>
<tr><th>#</th><th>kind</th><th>commit</th><th>subject</th><th>verdict</th><th>reason</th><th>metrics</th><th>seconds</th>{{if $remote}}<th>worker</th>{{end}}<th>logs</th></tr>
{{range .Steps}}<tr><td>{{.N}}</td><td>{{.Kind}}</td><td><code>{{short .Commit}}</code></td><td>{{.Subject}}</td><td class="{{.Verdict}}">{{.Term}}</td><td>{{.Reason}}</td><td>{{.MetricsText}}</td><td>{{f1 .DurationS}}</td>{{if $remote}}<td>{{.Worker}}</td>{{end}}<td>{{range .Logs}}<a href="{{.}}">{{logname .}}</a> {{end}}</td></tr>
{{end}}</table>
<h3>Reproduce</h3>
<pre>{{.Command}}</pre>
{{if .Resume}}<p>Unfinished; to go on:</p><pre>{{.Resume}}</pre>{{end}}
</section>
{{end}}
</body>
</html>
`

// posteriorChart is the flake-aware search's posterior over the range as
// bars, one per candidate that holds any of it.
type posteriorChart struct {
	W, H, Left, Right, Top, Bottom, AxisY float64
	Bars                                  []svgBar
	YTicks                                []svgTick
}

type svgBar struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

// layoutPosterior draws the posterior; nil when it holds nothing to draw.
func layoutPosterior(bl *bisect.Beliefs, firstBad *Commit) *posteriorChart {
	if len(bl.Range) == 0 {
		return nil
	}
	c := &posteriorChart{W: 720, H: 240, Left: 56, Right: 704, Top: 16, Bottom: 200}
	c.AxisY = -(c.Top + c.Bottom) / 2
	top := 0.0
	for _, p := range bl.Range {
		top = math.Max(top, p.FirstBad)
	}
	// Round ticks: 0, 25, 50, 75, 100 % of a round top.
	scale := math.Ceil(top*4) / 4
	if scale == 0 {
		scale = 0.25
	}
	for i := 0; i <= 4; i++ {
		v := scale * float64(i) / 4
		y := c.Bottom - (c.Bottom-c.Top)*v/scale
		c.YTicks = append(c.YTicks, svgTick{X: c.Left - 6, Y: y, Label: fmt.Sprintf("%g", math.Round(1000*v)/10)})
	}
	first, last := bl.Range[0].Order, bl.Range[len(bl.Range)-1].Order
	span := float64(max(last-first, 1))
	w := math.Max(2, math.Min(24, (c.Right-c.Left)/(span+1)-1))
	for _, p := range bl.Range {
		x := c.Left + (c.Right-c.Left-w)*float64(p.Order-first)/span
		h := (c.Bottom - c.Top) * p.FirstBad / scale
		class := "skip"
		if firstBad != nil && p.Commit == firstBad.Commit {
			class = "bad"
		}
		c.Bars = append(c.Bars, svgBar{X: x, Y: c.Bottom - h, W: w, H: h, Class: class,
			Title: fmt.Sprintf("%s: first bad %.1f%%, bad %.1f%%", text.ShortID(p.Commit), 100*p.FirstBad, 100*p.Bad)})
	}
	return c
}
