package cli

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/batch"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// jsonNames lists the JSON names of a type's fields, and of the structs
// they hold, embedded ones flattened.
func jsonNames(t reflect.Type, seen map[reflect.Type]bool, out map[string]string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] || t.PkgPath() == "time" {
		return
	}
	seen[t] = true
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if name != "" {
			out[name] = t.Name() + "." + f.Name
		}
		jsonNames(f.Type, seen, out)
	}
}

// Every field of the JSON that sxbisect prints is documented in the
// README, by its name.
func TestEveryJSONFieldIsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	require.NoError(t, err)
	names := map[string]string{}
	seen := map[reflect.Type]bool{}
	for _, v := range []any{bisect.Result{}, bisect.Status{}, batch.Report{}, workersJSON{}} {
		jsonNames(reflect.TypeOf(v), seen, names)
	}
	for name, field := range names {
		assert.Contains(t, string(readme), "`"+name+"`", "%s (%s) is not documented in the README", name, field)
	}
}

// Every JSON object has its schema's version.
func TestJSONHasTheSchemaVersion(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 6)
	schemaOf := func(out string) any {
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &v), out)
		return v["schema"]
	}
	status, out, stderr := sxbisect(t, "start", "-q", "--json", "--repo", repo, "--run", `test "$(cat value)" -lt 3`, hashes[0], "main")
	require.Equal(t, exitFound, status, stderr)
	assert.Equal(t, float64(bisect.JSONSchema), schemaOf(out))
	status, out, stderr = sxbisect(t, "status", "--json", "--repo", repo)
	require.Equal(t, 0, status, stderr)
	assert.Equal(t, float64(bisect.JSONSchema), schemaOf(out))
	status, out, stderr = sxbisect(t, "compare", "-q", "--json", "--rounds", "1", "--repo", repo, "--run", "true", hashes[0], "main")
	require.Equal(t, 0, status, stderr)
	assert.Equal(t, float64(bisect.JSONSchema), schemaOf(out))
	assert.True(t, strings.HasPrefix(out, "{\n  \"schema\": 1,\n"), out[:40])
}
