package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"kubedesk.dev/kubedesk/spawner/internal/confparse"
	"kubedesk.dev/kubedesk/spawner/internal/podspec"
)

// settingsFields maps each podspec.Settings JSON name to its Go type, so an
// override's keys can be checked, and its numbers coerced, by name.
var settingsFields = sync.OnceValue(func() map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	t := reflect.TypeFor[podspec.Settings]()
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" && f.IsExported() {
			fields[name] = f.Type
		}
	}
	return fields
})

func settingsKeys() []string {
	var keys []string
	for k := range settingsFields() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// toMap turns settings into the generic form overrides merge into. Numbers
// stay json.Number so int64 IDs survive the round trip exactly.
func toMap(s podspec.Settings) (map[string]any, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode settings: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	m := map[string]any{}
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("encode settings: %w", err)
	}
	return m, nil
}

// apply is KubeSpawner's _apply_overrides with recursive_update: a mapping
// merges into a mapping key by key, at any depth, so a profile can add one
// environment variable or node selector without restating the rest; null
// deletes the key; anything else, lists included, replaces.
func apply(dst, override map[string]any) {
	for k, v := range override {
		switch v := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			sub, ok := dst[k].(map[string]any)
			if !ok {
				sub = map[string]any{}
				dst[k] = sub
			}
			apply(sub, v)
		default:
			dst[k] = clone(v)
		}
	}
}

func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = clone(e)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = clone(e)
		}
		return l
	}
	return v
}

// substitute is KubeSpawner's recursive_format(v, value=text) for the one
// placeholder it defines: every "{value}" in every string, keys included.
// Other braces are left alone, as IgnoreMissing does for unknown names.
func substitute(v any, text string) any {
	switch v := v.(type) {
	case string:
		return strings.ReplaceAll(v, "{value}", text)
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[strings.ReplaceAll(k, "{value}", text)] = substitute(e, text)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = substitute(e, text)
		}
		return l
	}
	return v
}

// decodeSettings decodes merged overrides strictly. Numbers given for
// string settings become their text first: KubeSpawner's cpu_limit is a
// float and mem_limit accepts bytes, so pasted profiles say `cpu_limit: 2`
// where podspec.Settings holds Kubernetes quantity strings.
func decodeSettings(m map[string]any) (podspec.Settings, error) {
	fields := settingsFields()
	for k, v := range m {
		t, ok := fields[k]
		if !ok {
			continue
		}
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case t.Kind() == reflect.String:
			if s, ok := numberText(v); ok {
				m[k] = s
			}
		case t.Kind() == reflect.Map && t.Elem().Kind() == reflect.String:
			if sub, ok := v.(map[string]any); ok {
				for sk, sv := range sub {
					if s, ok := numberText(sv); ok {
						sub[sk] = s
					}
				}
			}
		}
	}
	data, err := json.Marshal(m)
	if err != nil {
		return podspec.Settings{}, fmt.Errorf("encode overrides: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s podspec.Settings
	if err := dec.Decode(&s); err != nil {
		return podspec.Settings{}, describeDecodeError(err)
	}
	return s, nil
}

func numberText(v any) (string, bool) {
	switch v := v.(type) {
	case json.Number:
		return v.String(), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	return "", false
}

// describeDecodeError rewords encoding/json's messages, which speak of Go
// types, for the operator who wrote the YAML.
func describeDecodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%s: expected %s, got %s", te.Field, typeName(te.Type), jsonTypeName(te.Value))
	}
	msg, _ := strings.CutPrefix(err.Error(), "json: ")
	return errors.New(msg)
}

func typeName(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

func jsonTypeName(v string) string {
	switch v {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "array":
		return "a list"
	case "object":
		return "a mapping"
	}
	if strings.HasPrefix(v, "number") {
		return "a number"
	}
	return v
}

// checkOverride reports what would go wrong applying override over base:
// keys podspec.Settings does not have, then values that do not decode.
func checkOverride(base map[string]any, loc string, override map[string]any) error {
	fields := settingsFields()
	var errs []error
	keys := make([]string, 0, len(override))
	for k := range override {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if _, ok := fields[k]; !ok {
			errs = append(errs, fmt.Errorf("%s: unknown key %q in kubespawner_override%s", loc, k, confparse.Suggest(k, settingsKeys())))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	merged := clone(base).(map[string]any)
	apply(merged, override)
	settings, err := decodeSettings(merged)
	if err != nil {
		return fmt.Errorf("%s: kubespawner_override: %w", loc, err)
	}
	// A privileged field nobody allowed fails here, at start, rather than
	// at a user's spawn.
	if err := settings.CheckPrivilegedFields(); err != nil {
		for line := range strings.Lines(err.Error()) {
			errs = append(errs, fmt.Errorf("%s: kubespawner_override: %s", loc, strings.TrimSuffix(line, "\n")))
		}
	}
	return errors.Join(errs...)
}
