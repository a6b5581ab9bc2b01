// Package text holds the few ways sxbisect shapes text for people and
// shells, so that every command abbreviates, folds and quotes alike.
package text

import "strings"

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
