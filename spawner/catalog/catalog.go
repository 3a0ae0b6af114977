package catalog

import (
	"fmt"
	"slices"
	"strings"

	"kubedesk.dev/kubedesk/spawner/internal/confparse"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// Catalog is a validated set of apps, several versions per ID. It is not
// changed after it is built, so it is safe for concurrent use; the apps it
// returns are copies.
type Catalog struct {
	byID   map[string][]App // newest version first
	origin map[string]origin
}

// origin is where an app was defined, for Merge's messages.
type origin struct {
	source string
	line   int
}

func (o origin) String() string {
	if o.line > 0 {
		return fmt.Sprintf("%s:%d", o.source, o.line)
	}
	return o.source
}

func newCatalog() *Catalog {
	return &Catalog{byID: map[string][]App{}, origin: map[string]origin{}}
}

// add puts a valid app in c, or returns where the same ID and version is
// already defined.
func (c *Catalog) add(a App, o origin) (origin, bool) {
	if prev, dup := c.origin[a.String()]; dup {
		return prev, false
	}
	c.origin[a.String()] = o
	versions := append(c.byID[a.ID], a)
	slices.SortStableFunc(versions, func(x, y App) int { return sessionapi.CompareVersions(y.Version, x.Version) })
	c.byID[a.ID] = versions
	return o, true
}

// New builds a catalog from apps made in Go, such as tests' fixtures. Each
// app is checked by the same rules as Parse, and an app that fails them,
// or repeats an earlier app's ID and version, is left out and reported.
// An empty Name becomes the ID.
func New(apps ...App) (*Catalog, []Problem) {
	c := newCatalog()
	var problems []Problem
	for i, a := range apps {
		a = a.clone()
		if a.Name == "" {
			a.Name = a.ID
		}
		label := entryLabel(a.ID, a.Version, i)
		if errs := validate(a); len(errs) > 0 {
			for _, e := range errs {
				problems = append(problems, Problem{App: label, Message: e.msg})
			}
			continue
		}
		if prev, ok := c.add(a, origin{source: fmt.Sprintf("entry %d", i+1)}); !ok {
			problems = append(problems, Problem{App: label, Message: "duplicate of " + prev.String() + "; this entry is skipped"})
		}
	}
	return c, problems
}

// Merge combines catalogs, such as kubedesk's own YAML and an import of
// Neurodesk's list. Where two define the same ID and version, the first
// one given is kept and the other is reported.
func Merge(catalogs ...*Catalog) (*Catalog, []Problem) {
	c := newCatalog()
	var problems []Problem
	for _, other := range catalogs {
		if other == nil {
			continue
		}
		for _, a := range other.Apps() {
			o := other.origin[a.String()]
			if prev, ok := c.add(a, o); !ok {
				problems = append(problems, Problem{
					Source:  o.source,
					Line:    o.line,
					App:     a.String(),
					Message: "also defined at " + prev.String() + ", which is kept",
				})
			}
		}
	}
	return c, problems
}

// Len is the number of apps, counting each version.
func (c *Catalog) Len() int {
	n := 0
	for _, versions := range c.byID {
		n += len(versions)
	}
	return n
}

// IDs lists the apps' IDs in order.
func (c *Catalog) IDs() []string {
	ids := make([]string, 0, len(c.byID))
	for id := range c.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Apps lists every app, by ID, newest version first.
func (c *Catalog) Apps() []App {
	var out []App
	for _, id := range c.IDs() {
		for _, a := range c.byID[id] {
			out = append(out, a.clone())
		}
	}
	return out
}

// Versions lists the versions of an app, newest first; nil for an unknown
// ID.
func (c *Catalog) Versions(id string) []string {
	var out []string
	for _, a := range c.byID[id] {
		out = append(out, a.Version)
	}
	return out
}

// Lookup finds an app by ID and version; version "" means the newest (see
// sessionapi.CompareVersions). Anything else not found is a *NotFoundError.
func (c *Catalog) Lookup(id, version string) (App, error) {
	versions, ok := c.byID[id]
	if !ok {
		return App{}, &NotFoundError{ID: id, Version: version, Near: c.near(id)}
	}
	if version == "" {
		return versions[0].clone(), nil
	}
	for _, a := range versions {
		if a.Version == version {
			return a.clone(), nil
		}
	}
	return App{}, &NotFoundError{ID: id, Version: version, Versions: c.Versions(id)}
}

// ForProfile lists the apps that sessions of the profile with this slug
// may launch, in the order of Apps.
func (c *Catalog) ForProfile(slug string) []App {
	var out []App
	for _, a := range c.Apps() {
		if a.AllowedFor(slug) {
			out = append(out, a)
		}
	}
	return out
}

// Categories lists the distinct categories of all apps, sorted.
func (c *Catalog) Categories() []string {
	var out []string
	for _, versions := range c.byID {
		for _, a := range versions {
			for _, cat := range a.Categories {
				if !slices.Contains(out, cat) {
					out = append(out, cat)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// NotFoundError is Lookup's answer for an unknown app or version.
type NotFoundError struct {
	ID      string
	Version string // as asked; "" for the newest
	// Near are known IDs close to an unknown ID, best first.
	Near []string
	// Versions are the known versions when the ID exists but the version
	// does not, newest first.
	Versions []string
}

func (e *NotFoundError) Error() string {
	if len(e.Versions) > 0 {
		return fmt.Sprintf("app %q has no version %q (it has %s)", e.ID, e.Version, strings.Join(e.Versions, ", "))
	}
	msg := fmt.Sprintf("app %q is not in the catalog", e.ID)
	if len(e.Near) == 0 {
		return msg
	}
	quoted := make([]string, len(e.Near))
	for i, n := range e.Near {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	alternatives := quoted[0]
	if len(quoted) > 1 {
		alternatives = strings.Join(quoted[:len(quoted)-1], ", ") + " or " + quoted[len(quoted)-1]
	}
	return msg + " (did you mean " + alternatives + "?)"
}

// maxNear bounds NotFoundError.Near.
const maxNear = 3

// near returns up to maxNear known IDs close to id: within a few edits
// (more for longer IDs), or containing it, or contained in it.
func (c *Catalog) near(id string) []string {
	type cand struct {
		id   string
		dist int
	}
	lower := strings.ToLower(id)
	var cands []cand
	for known := range c.byID {
		d := confparse.EditDistance(lower, known)
		limit := max(2, len(lower)/3)
		contains := len(lower) >= 3 && (strings.Contains(known, lower) || strings.Contains(lower, known))
		if d <= limit || contains {
			cands = append(cands, cand{known, d})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int {
		if a.dist != b.dist {
			return a.dist - b.dist
		}
		return strings.Compare(a.id, b.id)
	})
	var out []string
	for i := 0; i < len(cands) && i < maxNear; i++ {
		out = append(out, cands[i].id)
	}
	return out
}
