package predicate

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Factory builds a predicate from its parameters: names to values, both
// strings, as they come from the command line or a configuration file.
// A factory rejects a parameter it does not know and a value it cannot
// parse with a one-line error naming the parameter, so that a typo fails
// at once instead of changing what is bisected.
type Factory func(params map[string]string) (Predicate, error)

// registry holds the factories by name. It is filled from init functions
// and read when sessions are set up, possibly from several goroutines.
var registry = struct {
	sync.Mutex
	factories    map[string]Factory
	descriptions map[string]string
}{factories: map[string]Factory{}, descriptions: map[string]string{}}

// Register makes a predicate available by name. Like sql.Register, it
// panics when the name is empty, already taken or the factory nil: two
// packages claiming one name is a build mistake, found at start-up.
func Register(name string, f Factory) {
	if name == "" {
		panic("predicate: Register with an empty name")
	}
	if f == nil {
		panic("predicate: Register of a nil factory for " + name)
	}
	registry.Lock()
	defer registry.Unlock()
	if _, taken := registry.factories[name]; taken {
		panic("predicate: Register called twice for " + name)
	}
	registry.factories[name] = f
}

// Describe gives the predicate registered under name a one-line
// description, with its parameters, for 'sxbisect predicates' to list.
// Call it from the same init function as Register.
func Describe(name, description string) {
	registry.Lock()
	defer registry.Unlock()
	registry.descriptions[name] = description
}

// Description is what Describe said of name, or "".
func Description(name string) string {
	registry.Lock()
	defer registry.Unlock()
	return registry.descriptions[name]
}

// Lookup returns the factory registered under name.
func Lookup(name string) (Factory, bool) {
	registry.Lock()
	defer registry.Unlock()
	f, ok := registry.factories[name]
	return f, ok
}

// Names returns the registered names, sorted.
func Names() []string {
	registry.Lock()
	defer registry.Unlock()
	names := make([]string, 0, len(registry.factories))
	for name := range registry.factories {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// New builds the predicate registered under name from params, with an
// error listing the registered names when there is none by that name.
func New(name string, params map[string]string) (Predicate, error) {
	f, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("unknown predicate %q (registered: %s)", name, strings.Join(Names(), ", "))
	}
	return f(params)
}
