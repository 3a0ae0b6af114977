// Package catalog is kubedesk's list of launchable applications: which
// image each app runs, its command and file arguments, its resources and
// placement, and which session profiles may use it.
//
// Two programs read it, so it is plain data with no Kubernetes client and
// no network: the spawner service checks every launch request against it
// (the app and version exist, the session's profile may use it, its
// resources fit the quota) and builds the app pod from it; the launcher
// agent in the session pod builds the desktop menu from it (package
// launcher/menu) and turns a menu click into a launch request.
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
//     The rest of the file still loads, so one typo never takes the agent
//     or the service down. Problem messages are part of the contract.
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
// CompareVersions (dotted numbers, Neurodesk's YYYYMMDD build dates);
// a miss is a *NotFoundError that names close ids or the versions there
// are. Versions, ForProfile, Categories and Apps list the rest.
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
