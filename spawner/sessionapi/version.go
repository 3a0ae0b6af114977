package sessionapi

import (
	"strings"
)

// CompareVersions orders two versions, returning -1, 0 or +1 as a is
// older than, the same as or newer than b. It is meant for the versions
// that catalogs hold: dotted numbers ("4.4.0" < "4.10.0"), Neurodesk build
// dates ("20240321" < "20260117"), SPM's "r7487" < "r7771", with a leading
// "v" ignored. It is part of the session API: the session catalog lists an
// app's versions newest first by it, a LaunchRequest without a version
// launches the newest by it, and the service's catalog (spawner/catalog)
// orders its entries by it.
//
// Each version is split into runs of digits and runs of letters; ".", "-",
// "_" and "+" only separate. Runs are compared in turn: numbers by value,
// words alphabetically without regard to case, and a number is newer than
// a word ("1.0.1" > "1.0.beta"). When one version runs out first, the
// other is newer if its next run is a number ("1.0.1" > "1.0") and older
// if it is a word, which is how pre-releases are written ("1.0rc1" and
// "1.0-beta" < "1.0"). Versions equal by these rules ("1.0" and "1.00")
// are ordered by their text, so the order is total and stable.
func CompareVersions(a, b string) int {
	ta, tb := versionTokens(a), versionTokens(b)
	for i := 0; i < len(ta) && i < len(tb); i++ {
		if c := compareToken(ta[i], tb[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(ta) > len(tb):
		if ta[len(tb)].num {
			return 1
		}
		return -1
	case len(ta) < len(tb):
		if tb[len(ta)].num {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

type versionToken struct {
	text string // digits without leading zeros, or a lower-cased word
	num  bool
}

func versionTokens(v string) []versionToken {
	if len(v) > 1 && (v[0] == 'v' || v[0] == 'V') && isDigit(v[1]) {
		v = v[1:]
	}
	var out []versionToken
	for i := 0; i < len(v); {
		c := v[i]
		j := i + 1
		switch {
		case isDigit(c):
			for j < len(v) && isDigit(v[j]) {
				j++
			}
			n := strings.TrimLeft(v[i:j], "0")
			if n == "" {
				n = "0"
			}
			out = append(out, versionToken{text: n, num: true})
		case isSeparator(c):
		default:
			for j < len(v) && !isDigit(v[j]) && !isSeparator(v[j]) {
				j++
			}
			out = append(out, versionToken{text: strings.ToLower(v[i:j])})
		}
		i = j
	}
	return out
}

func compareToken(a, b versionToken) int {
	switch {
	case a.num && b.num:
		// Without leading zeros, a longer run of digits is a larger number;
		// this avoids overflow on long build stamps.
		if len(a.text) != len(b.text) {
			if len(a.text) < len(b.text) {
				return -1
			}
			return 1
		}
		return strings.Compare(a.text, b.text)
	case a.num:
		return 1
	case b.num:
		return -1
	}
	return strings.Compare(a.text, b.text)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isSeparator(c byte) bool { return c == '.' || c == '-' || c == '_' || c == '+' }
