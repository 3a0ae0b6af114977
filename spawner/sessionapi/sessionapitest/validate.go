package sessionapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"
)

// known are the keywords a schema may have that say nothing of a value's
// shape, beside those Schema has fields for.
var known = []string{"example"}

// Validate checks a JSON document against s, references resolved through
// d; it returns what does not match, each prefixed with where (a JSON
// path from $).
func (d *Doc) Validate(s *Schema, data []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return []string{fmt.Sprintf("$: not JSON: %v", err)}
	}
	if dec.More() {
		return []string{"$: more than one JSON value"}
	}
	var errs []string
	d.validate(s, v, "$", &errs)
	return errs
}

func (d *Doc) validate(s *Schema, v any, at string, errs *[]string) {
	fail := func(format string, args ...any) { *errs = append(*errs, at+": "+fmt.Sprintf(format, args...)) }
	s, err := d.schema(s)
	if err != nil {
		fail("%v", err)
		return
	}
	for k := range s.Other {
		if !slices.Contains(known, k) {
			fail("the schema has %s, which this check does not know; teach it (spawner/sessionapi/sessionapitest)", k)
		}
	}
	if v == nil {
		if !s.Nullable {
			fail("null, which the schema does not allow (nullable)")
		}
		return
	}
	if len(s.AnyOf) > 0 {
		for _, alt := range s.AnyOf {
			var altErrs []string
			if d.validate(alt, v, at, &altErrs); len(altErrs) == 0 {
				return
			}
		}
		fail("%v matches none of anyOf", v)
		return
	}
	switch s.Type {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			fail("%T, want an object", v)
			return
		}
		for _, name := range s.Required {
			if _, ok := obj[name]; !ok {
				fail("no %q, which the schema requires", name)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(obj)) {
			if p, ok := s.Properties[name]; ok {
				d.validate(p, obj[name], at+"."+name, errs)
			} else if a := s.AdditionalProperties; a != nil && !a.Allowed {
				fail("%q, which the schema does not have (additionalProperties: false)", name)
			} else if a != nil && a.Schema != nil {
				d.validate(a.Schema, obj[name], at+"."+name, errs)
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			fail("%T, want an array", v)
			return
		}
		if s.MaxItems != nil && len(arr) > *s.MaxItems {
			fail("%d items, more than %d", len(arr), *s.MaxItems)
		}
		if s.Items == nil {
			fail("the schema's array has no items")
			return
		}
		for i, item := range arr {
			d.validate(s.Items, item, fmt.Sprintf("%s[%d]", at, i), errs)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			fail("%T, want a string", v)
			return
		}
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, str) {
			fail("%q, not one of %v", str, s.Enum)
		}
		if n := utf8.RuneCountInString(str); s.MinLength != nil && n < *s.MinLength || s.MaxLength != nil && n > *s.MaxLength {
			fail("%q: %d characters, outside the schema's length", str, n)
		}
		if s.Pattern != "" {
			if re, err := regexp.Compile(s.Pattern); err != nil {
				fail("the schema's pattern %q: %v", s.Pattern, err)
			} else if !re.MatchString(str) {
				fail("%q does not match %s", str, s.Pattern)
			}
		}
		switch s.Format {
		case "":
		case "date-time":
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				fail("%q is not a date-time: %v", str, err)
			}
		default:
			fail("the schema's string format %s, which this check does not know", s.Format)
		}
	case "integer", "number":
		num, ok := v.(json.Number)
		if !ok {
			fail("%T, want a %s", v, s.Type)
			return
		}
		f, err := num.Float64()
		if err != nil {
			fail("%s: %v", num, err)
			return
		}
		if s.Type == "integer" {
			i, err := num.Int64()
			switch {
			case err != nil:
				fail("%s, want an integer", num)
			case s.Format == "int32" && (i < math.MinInt32 || i > math.MaxInt32):
				fail("%d is not an int32", i)
			case s.Format != "" && s.Format != "int32" && s.Format != "int64":
				fail("the schema's integer format %s, which this check does not know", s.Format)
			}
		}
		if s.Minimum != nil && f < *s.Minimum || s.Maximum != nil && f > *s.Maximum {
			fail("%s is outside the schema's range", num)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			fail("%T, want a boolean", v)
		}
	case "":
		// Any value.
	default:
		fail("the schema's type %s, which this check does not know", s.Type)
	}
}
