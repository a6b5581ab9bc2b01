// Package text holds the few ways sxbisect shapes text for people and
// shells, so that every command abbreviates, folds and quotes alike.
package text

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ShortIDLen is how many hex digits an abbreviated commit id has
// everywhere sxbisect prints one: enough to stay unique in a large
// repository (git.git needs 9 today), short enough for a status line.
const ShortIDLen = 12

// ShortID abbreviates a full object id for people.
func ShortID(id string) string {
	if len(id) > ShortIDLen {
		return id[:ShortIDLen]
	}
	return id
}

// OneLine folds a multi-line message (git's stderr, a test's output) onto
// one line, as a reason or an error must be.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// shellSafe are the bytes a shell word may hold without quotes.
const shellSafe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%"

// ShellQuote quotes s for a POSIX shell, only when it needs quotes, so
// that printed commands stay readable and can be pasted.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, shellSafe) == "" {
		return s
	}
	return SingleQuote(s)
}

// SingleQuote always quotes s in single quotes, as git's sq_quote does
// for the commands it writes to BISECT_LOG.
func SingleQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ShellJoin quotes each argument as ShellQuote does and joins them.
func ShellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = ShellQuote(a)
	}
	return strings.Join(q, " ")
}

// Escape makes text that comes from a repository or a test (a commit's
// subject or author, a line of a test's output, a reason that quotes one)
// harmless on a terminal and in a report: control characters, which could
// move the cursor, recolour the screen, set the window's title or hide
// what comes before them (ESC, CR, BEL, backspace, DEL and the C1 controls
// U+0080 to U+009F), are written as the Go escapes \x1b, \r, \u009b, and
// so are bytes that are not UTF-8. Newlines and tabs stay as they are.
func Escape(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, needsEscape) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80 && needsEscape(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case needsEscape(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(r rune) bool {
	return (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r <= 0x9f)
}

// GitDate formats a commit's date as git log shows it by default ("Tue
// Nov 14 23:13:20 2023 +0100"), in the time zone the date was recorded
// in, which t keeps: the author's own, not this machine's.
func GitDate(t time.Time) string { return t.Format("Mon Jan 2 15:04:05 2006 -0700") }
