package menu

import (
	"strings"
)

// The Desktop Entry Specification's escaping rules
// (https://specifications.freedesktop.org/desktop-entry-spec/latest/).

// escapeValue escapes a string or localestring value: "\s" for a leading
// space, "\n", "\t", "\r" and "\\".
func escapeValue(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == ' ' && i == 0:
			b.WriteString(`\s`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// escapeList joins the items of a list value ("a;b;"), escaping ";" in
// an item.
func escapeList(items []string) string {
	var b strings.Builder
	for _, it := range items {
		b.WriteString(strings.ReplaceAll(escapeValue(it), ";", `\;`))
		b.WriteByte(';')
	}
	return b.String()
}

// execReserved are the characters that make an Exec argument need quotes.
const execReserved = " \t\n\"'\\><~|&;$*?#()`"

// quoteExecArg quotes one literal argument of an Exec key: "%" becomes
// "%%" (a literal percent, not a field code), and an argument with a
// reserved character is put in double quotes, inside which '"', '`', '$'
// and '\' are escaped with a backslash. The result is still to be escaped
// as a string value (escapeValue), which doubles those backslashes.
func quoteExecArg(arg string) string {
	arg = strings.ReplaceAll(arg, "%", "%%")
	if arg != "" && !strings.ContainsAny(arg, execReserved) {
		return arg
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range arg {
		if strings.ContainsRune("\"`$\\", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// execLine is the value of an Exec key: the literal arguments quoted,
// then the field codes as they are.
func execLine(args []string, fieldCodes ...string) string {
	parts := make([]string, 0, len(args)+len(fieldCodes))
	for _, a := range args {
		parts = append(parts, quoteExecArg(a))
	}
	parts = append(parts, fieldCodes...)
	return escapeValue(strings.Join(parts, " "))
}
