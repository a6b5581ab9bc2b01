package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sxbisect/sxbisect/bisect"
)

// Config says how to reach the NATS server and who to be there. The
// credentials come from flags, the environment (see FromEnv) or files,
// never from a commit under test, and never from a session's journal.
type Config struct {
	// URL is the server's, or several separated by commas (a cluster):
	// nats://host:4222, tls://host:4222.
	URL string
	// User and Password log in with a user name and a password.
	User, Password string
	// CredsFile is a credentials file (a user JWT and its nkey seed), as
	// nsc and the NATS account servers make them.
	CredsFile string
	// NKeyFile is a file holding a user's nkey seed.
	NKeyFile string
	// TLSCert and TLSKey are a client certificate and its key; TLSCA the
	// authorities that the server's certificate must chain to.
	TLSCert, TLSKey, TLSCA string
	// Insecure allows a server off the loopback without credentials.
	Insecure bool
	// Name names the connection in the server's monitoring.
	Name string
}

// The environment variables FromEnv reads.
const (
	EnvUser     = "SXBISECT_NATS_USER"
	EnvPassword = "SXBISECT_NATS_PASSWORD"
	EnvCreds    = "SXBISECT_NATS_CREDS"
	EnvNKey     = "SXBISECT_NATS_NKEY"
	EnvTLSCert  = "SXBISECT_NATS_TLS_CERT"
	EnvTLSKey   = "SXBISECT_NATS_TLS_KEY"
	EnvTLSCA    = "SXBISECT_NATS_TLS_CA"
)

// FromEnv fills what c leaves empty from the environment, so that a
// password need not be on a command line, where ps shows it.
func (c Config) FromEnv() Config {
	fill := func(field *string, name string) {
		if *field == "" {
			*field = os.Getenv(name)
		}
	}
	fill(&c.User, EnvUser)
	fill(&c.Password, EnvPassword)
	fill(&c.CredsFile, EnvCreds)
	fill(&c.NKeyFile, EnvNKey)
	fill(&c.TLSCert, EnvTLSCert)
	fill(&c.TLSKey, EnvTLSKey)
	fill(&c.TLSCA, EnvTLSCA)
	return c
}

// hasCredentials reports whether c says who to be on the server.
func (c Config) hasCredentials() bool {
	return c.User != "" || c.CredsFile != "" || c.NKeyFile != "" || c.TLSCert != ""
}

// Check refuses a configuration that cannot be used, or that would let
// anyone on the network run commands on the workers: a server off the
// loopback without credentials, unless Insecure. Credentials written into
// the URL are refused, since a session records its URL.
func (c Config) Check() error {
	if c.URL == "" {
		return &bisect.UsageError{Msg: "give the NATS server with --nats URL (e.g. nats://127.0.0.1:4222; start one with 'nats-server -js')"}
	}
	loopback := true
	for _, u := range strings.Split(c.URL, ",") {
		parsed, err := url.Parse(strings.TrimSpace(u))
		if err != nil || parsed.Host == "" {
			return &bisect.UsageError{Msg: fmt.Sprintf("--nats %s is not a server URL: give nats://HOST:PORT", u)}
		}
		switch parsed.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return &bisect.UsageError{Msg: fmt.Sprintf("--nats %s: the scheme %q is not nats, tls, ws or wss: give nats://HOST:PORT", u, parsed.Scheme)}
		}
		if parsed.User != nil {
			return &bisect.UsageError{Msg: "--nats: the URL holds credentials, which a session would record: give them with --nats-user and " + EnvPassword + ", or --nats-creds FILE, instead"}
		}
		loopback = loopback && isLoopback(parsed.Hostname())
	}
	if (c.User == "") != (c.Password == "") {
		return &bisect.UsageError{Msg: "--nats-user needs a password, and a password needs a user: give both (the password with --nats-password-file FILE or " + EnvPassword + ")"}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return &bisect.UsageError{Msg: "--nats-tls-cert and --nats-tls-key go together: give both"}
	}
	if !loopback && !c.hasCredentials() && !c.Insecure {
		return &bisect.UsageError{Msg: fmt.Sprintf("--nats %s is not on this machine and no credentials are given: anyone who can publish to that server runs commands on the workers; give --nats-creds FILE (or --nats-user with %s, or --nats-tls-cert and --nats-tls-key), or --insecure on a network you trust", c.URL, EnvPassword)}
	}
	return nil
}

// isLoopback reports whether host names this machine only.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ReadSecretFile reads a password from a file: its first line, without
// the newline. The file should be readable by its owner only.
func ReadSecretFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", &bisect.UsageError{Msg: fmt.Sprintf("cannot read the password file: %v", err)}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimRight(line, "\r"), nil
}

// Conn is a connection to the NATS server with JetStream.
type Conn struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	url string
	// deadlines say how soon a lost worker is noticed.
	deadlines Deadlines
}

// Deadlines say how soon a lost worker is noticed. The defaults suit
// production; tests shorten them, so that a step of a killed worker goes
// to another one within seconds.
type Deadlines struct {
	// AckWait is how long a worker may go without a sign of life before
	// its step is given to another worker: the ack deadline of the work
	// consumers, which the workers make (the last one to start sets it).
	// A worker says it is alive four times in that span.
	AckWait time.Duration
	// Heartbeat is how often a worker writes its entry in the workers
	// bucket; an entry not written for three heartbeats is a lost worker.
	Heartbeat time.Duration
}

// DefaultDeadlines are the deadlines for production.
var DefaultDeadlines = Deadlines{AckWait: 2 * time.Minute, Heartbeat: 5 * time.Second}

func (d Deadlines) withDefaults() Deadlines {
	if d.AckWait <= 0 {
		d.AckWait = DefaultDeadlines.AckWait
	}
	if d.Heartbeat <= 0 {
		d.Heartbeat = min(DefaultDeadlines.Heartbeat, d.AckWait/4)
	}
	return d
}

// Connect checks c and connects. The connection reconnects by itself for
// as long as it is open: a server that restarts loses nothing (its streams
// are on disk), and the work goes on when it is back.
func Connect(ctx context.Context, c Config, d Deadlines) (*Conn, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	name := c.Name
	if name == "" {
		name = "sxbisect"
	}
	opts := []nats.Option{
		nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second), nats.Timeout(5 * time.Second),
	}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.NKeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, &bisect.UsageError{Msg: fmt.Sprintf("--nats-nkey %s: %v", c.NKeyFile, err)}
		}
		opts = append(opts, opt)
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		if errors.Is(err, nats.ErrAuthorization) {
			return nil, &bisect.UsageError{Msg: fmt.Sprintf("the NATS server at %s refused the credentials: check --nats-creds, --nats-user and %s", c.URL, EnvPassword), Err: err}
		}
		return nil, fmt.Errorf("cannot reach the NATS server at %s (%v): start it with 'nats-server -js', or check --nats", c.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	conn := &Conn{nc: nc, js: js, url: c.URL, deadlines: d.withDefaults()}
	if err := conn.ensureStreams(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return conn, nil
}

// URL is the server's URL as given.
func (c *Conn) URL() string { return c.url }

// NATS is the connection itself, for tools that look into the streams.
func (c *Conn) NATS() *nats.Conn { return c.nc }

// Close closes the connection, after what was published has gone out.
func (c *Conn) Close() {
	_ = c.nc.Drain()
	for i := 0; i < 100 && !c.nc.IsClosed(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	c.nc.Close()
}
