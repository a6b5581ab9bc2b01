package text

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShortID(t *testing.T) {
	assert.Equal(t, "0123456789ab", ShortID("0123456789abcdef0123456789abcdef01234567"))
	assert.Equal(t, "abc", ShortID("abc"))
}

func TestOneLine(t *testing.T) {
	assert.Equal(t, "fatal: bad object HEAD", OneLine("fatal: bad\n  object\tHEAD\n"))
}

// The quoted words must come back unchanged through a real shell.
func TestShellQuoteRoundTrip(t *testing.T) {
	words := []string{"plain", "", "two words", "it's", `back\slash`, "$HOME", "a*b", "new\nline", "--max-ratio=cpu=1.5"}
	for _, w := range words {
		out, err := exec.Command("sh", "-c", "printf %s "+ShellQuote(w)).Output()
		require.NoError(t, err)
		assert.Equal(t, w, string(out), "word %q", w)
		out, err = exec.Command("sh", "-c", "printf %s "+SingleQuote(w)).Output()
		require.NoError(t, err)
		assert.Equal(t, w, string(out), "word %q", w)
	}
	assert.Equal(t, "plain", ShellQuote("plain"), "a safe word is left bare")
	assert.Equal(t, "a 'b c' ''", ShellJoin([]string{"a", "b c", ""}))
}

// A subject or a line of output must not reach a terminal as escape codes.
func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain subject, ünïcödé, tab\there":       "plain subject, ünïcödé, tab\there",
		"two\nlines":                              "two\nlines",
		"\x1b[2J\x1b]0;owned\x07red \x1b[31mtext": `\x1b[2J\x1b]0;owned\x07red \x1b[31mtext`,
		"over\rwrite":                             `over\rwrite`,
		"back\bspace del\x7f":                     `back\x08space del\x7f`,
		"c1 \u009b31m":                            `c1 \u009b31m`,
		"bad \xff byte, real \ufffd":              `bad \xff byte, real ` + "\ufffd",
	} {
		assert.Equal(t, want, Escape(in), "%q", in)
	}
}
