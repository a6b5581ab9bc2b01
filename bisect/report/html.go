package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
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
	}).Parse(htmlTemplate)
	if err != nil {
		return err
	}
	type sessionView struct {
		*SessionReport
		Ran      []string
		Evidence [][]string
		Charts   []svgChart
		Beliefs  []string
		Heading  string
		Post     *posteriorChart
	}
	view := struct {
		*Report
		Lines    []string
		Sessions []sessionView
	}{Report: r, Lines: r.overviewLines()}
	for _, s := range r.Sessions {
		sv := sessionView{SessionReport: s, Ran: s.ranLines(), Heading: candidatesHeading(s.Outcome)}
		if s.Beliefs != nil {
			sv.Beliefs = beliefLines(s.Beliefs)
			sv.Post = layoutPosterior(s.Beliefs, s.FirstBad)
		}
		if s.Evidence != nil {
			sv.Evidence = s.Evidence.rows()
		}
		for _, c := range s.Charts {
			sv.Charts = append(sv.Charts, layout(c))
		}
		view.Sessions = append(view.Sessions, sv)
	}
	return t.Execute(w, view)
}

// svgChart is a Chart laid out on the page.
type svgChart struct {
	Chart
	W, H, Left, Right, Top, Bottom float64
	Line                           string
	Dots                           []svgDot
	XTicks, YTicks                 []svgTick
	BaseY, ThreshY                 float64
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

// layout places a chart's points: x by commit order, y from zero to a bit
// above the highest of the values and the threshold.
func layout(c Chart) svgChart {
	s := svgChart{Chart: c, W: 900, H: 320, Left: 70, Right: 880, Top: 20, Bottom: 250}
	hi := c.Threshold
	lo, maxOrder := 0, 0
	for i, p := range c.Points {
		hi = math.Max(hi, p.Value)
		if i == 0 || p.Order < lo {
			lo = p.Order
		}
		maxOrder = max(maxOrder, p.Order)
	}
	if hi <= 0 {
		hi = 1
	}
	hi *= 1.1
	x := func(order int) float64 {
		if maxOrder == lo {
			return (s.Left + s.Right) / 2
		}
		return s.Left + float64(order-lo)/float64(maxOrder-lo)*(s.Right-s.Left)
	}
	y := func(v float64) float64 { return s.Bottom - v/hi*(s.Bottom-s.Top) }
	var line []string
	lastOrder := -1
	for _, p := range c.Points {
		px, py := x(p.Order), y(p.Value)
		line = append(line, fmt.Sprintf("%.1f,%.1f", px, py))
		class := string(predicate.Skip)
		if p.Verdict == predicate.Good || p.Verdict == predicate.Bad {
			class = string(p.Verdict)
		}
		s.Dots = append(s.Dots, svgDot{X: px, Y: py, Class: class,
			Title: fmt.Sprintf("%s %s: %s %.3g (%s)", text.ShortID(p.Commit), p.Subject, c.Metric, p.Value, p.Verdict)})
		if p.Order != lastOrder {
			s.XTicks = append(s.XTicks, svgTick{X: px, Y: s.Bottom + 14, Label: p.Commit[:min(7, len(p.Commit))]})
			lastOrder = p.Order
		}
	}
	s.Line = strings.Join(line, " ")
	for i := 0; i <= 4; i++ {
		v := hi * float64(i) / 4
		s.YTicks = append(s.YTicks, svgTick{X: s.Left - 6, Y: y(v), Label: fmt.Sprintf("%.3g", v)})
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
svg .series { fill: none; stroke: #4a6fa5; }
blockquote { border-left: 3px solid #ccc; margin-left: 0; padding-left: 1em; white-space: pre-wrap; }
</style>
</head>
<body>
<h1>sxbisect report</h1>
<ul>{{range .Lines}}<li>{{plain .}}</li>{{end}}</ul>
{{range .Sessions}}
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
<h3>{{.Metric}} by commit, oldest first</h3>
<svg width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img">
<line class="axis" x1="{{.Left}}" y1="{{.Bottom}}" x2="{{.Right}}" y2="{{.Bottom}}"/>
<line class="axis" x1="{{.Left}}" y1="{{.Top}}" x2="{{.Left}}" y2="{{.Bottom}}"/>
{{$c := .}}{{range .YTicks}}<text x="{{.X}}" y="{{.Y}}" text-anchor="end" dominant-baseline="middle">{{.Label}}</text>
{{end}}{{range .XTicks}}<text x="{{.X}}" y="{{.Y}}" text-anchor="end" transform="rotate(-40 {{.X}} {{.Y}})">{{.Label}}</text>
{{end}}{{if .BaseY}}<line class="base" x1="{{.Left}}" y1="{{.BaseY}}" x2="{{.Right}}" y2="{{.BaseY}}"/>
<text x="{{.Right}}" y="{{.BaseY}}" dy="-4" text-anchor="end" class="good">baseline {{printf "%.3g" .Baseline}}</text>
{{end}}{{if .ThreshY}}<line class="thresh" x1="{{.Left}}" y1="{{.ThreshY}}" x2="{{.Right}}" y2="{{.ThreshY}}"/>
<text x="{{.Right}}" y="{{.ThreshY}}" dy="-4" text-anchor="end" class="bad">threshold {{printf "%.3g" .Threshold}} (baseline × {{.MaxRatio}})</text>
{{end}}<polyline class="series" points="{{.Line}}"/>
{{range .Dots}}<circle class="{{.Class}}" cx="{{.X}}" cy="{{.Y}}" r="{{if eq .Class "bad"}}6{{else}}4{{end}}"><title>{{.Title}}</title></circle>
{{end}}<text x="{{$c.Left}}" y="{{$c.H}}" dy="-6">commits in range order (by commit date); red: bad, green: good, grey: skipped</text>
</svg>
{{end}}
<h3>Steps ({{len .Steps}})</h3>
<table>
<tr><th>#</th><th>kind</th><th>commit</th><th>subject</th><th>verdict</th><th>reason</th><th>metrics</th><th>seconds</th></tr>
{{range .Steps}}<tr><td>{{.N}}</td><td>{{.Kind}}</td><td><code>{{short .Commit}}</code></td><td>{{.Subject}}</td><td class="{{.Verdict}}">{{.Term}}</td><td>{{.Reason}}</td><td>{{.MetricsText}}</td><td>{{f1 .DurationS}}</td></tr>
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
