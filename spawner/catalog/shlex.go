package catalog

import (
	"errors"
	"strings"
)

// splitWords splits a command line into words as Python's shlex.split does
// (POSIX mode, no comments), which is how Neurodesk's build_menu.py splits
// exec strings: blanks separate words; single quotes keep everything
// literally; inside double quotes a backslash escapes only '"' and '\';
// outside quotes a backslash escapes any character. Nothing is expanded:
// "$HOME", "~" and "*" stay as they are.
func splitWords(s string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool
		i       int
		escaped = func() (byte, error) {
			i++
			if i >= len(s) {
				return 0, errors.New("a backslash at the end escapes nothing")
			}
			return s[i], nil
		}
	)
	for ; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case '\\':
			e, err := escaped()
			if err != nil {
				return nil, err
			}
			cur.WriteByte(e)
			inWord = true
		case '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("a single quote is not closed")
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case '"':
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				cur.WriteByte(s[i])
			}
			if !closed {
				return nil, errors.New("a double quote is not closed")
			}
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
