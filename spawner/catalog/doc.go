// Package catalog is kubedesk's list of launchable applications, the
// spawner service's data model of them: which image each app runs, its
// command and file arguments, its resources and placement (Kubernetes'
// own tolerations), and which session profiles may use it.
//
// The service reads it from the operator's files (catalog_file and
// neurodesk_apps_file), checks every launch request against it (the app
// and version exist, the session's profile may use it, its files lie in
// the home directory) and builds the app pod from it (package
// spawner/internal/podspec). It is plain data with no Kubernetes client
// and no network. A session never sees it: the session API lists each
// entry as App.Listing gives it (a sessionapi.CatalogApp, what a menu
// shows), and the launcher agent builds its menu from that listing.
// Outside the service, the chart's, the examples' and the end-to-end tests
// parse catalogs with it.
//
// # Inputs
//
//   - Parse (and Load) read kubedesk's own YAML: a list of apps, or a
//     mapping from id to an app or to a list of its versions. The keys are
//     the json names of App's fields (examples/catalog/README.md describes
//     them). It is strict: an unknown key, a value of the wrong type, a
//     missing image or command, an id that is not a DNS label, a version
//     that is not a label value, a bad Kubernetes quantity, a malformed
//     command (empty, a NUL byte, a placeholder in command rather than
//     args, an unknown placeholder) or a repeated id and version is a
//     Problem naming the file, line and entry, and that entry is skipped.
//     The rest of the file still loads, so one typo never takes the
//     service down. Problem messages are part of the contract. The rules
//     on the fields a menu shows are the session API's
//     (sessionapi.CatalogApp.Check); the rest are this package's.
//   - ImportNeurodesk reads Neurodesk's apps.json (neurodesk/neurocommand):
//     each "<exe>GUI-<container> <version>" entry becomes the app <exe> in
//     the image vnmd/<container>_<version>:<build date>, with its exec
//     string split as a shell would split it and nothing expanded.
//   - New builds a catalog from apps made in Go, by the same rules, and
//     Merge combines catalogs, the first definition of an id and version
//     winning.
//
// # Queries
//
// Lookup finds an app by id and version, "" meaning the newest by
// sessionapi.CompareVersions (dotted numbers, Neurodesk's YYYYMMDD build
// dates); a miss is a *NotFoundError that names close ids or the versions
// there are. Versions, ForProfile, Categories and Apps list the rest.
//
// # Command lines
//
// App.CommandLine turns a launch with files into the app container's argv:
// Args may hold "{file}" (the first file) and "{files}" (every file as its
// own argument); without either, files are appended as Neurodesk's
// wrappers pass "$@". The argv is never run through a shell. Each file
// must be an absolute path inside the user's home after filepath.Clean,
// else a *FileError; the check is lexical (see CommandLine).
package catalog
