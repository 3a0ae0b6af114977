// Package menu turns the session's catalog, as the service lists it
// (sessionapi.Listing: what menus show, checked), into the desktop's
// Applications menu, following the freedesktop Desktop Entry and Desktop
// Menu specifications, which XFCE (the session image's desktop) reads and
// reloads by itself when the files change.
//
// Write puts, for each app version, a desktop entry
// applications/kubedesk-<id>_<version>.desktop in DataHome
// (~/.local/share) whose Exec runs "launch <id> <version> %F", the launcher
// agent's CLI, with the files the user opens it with; submenu descriptions
// in desktop-directories/ (kubedesk.directory for "Kubedesk Apps",
// kubedesk-category-<slug>.directory per category,
// kubedesk-app-<id>.directory per app); and the merged menu
// menus/applications-merged/kubedesk-apps.menu in ConfigHome (~/.config):
//
//	Kubedesk Apps
//	└─ Visualization               (one submenu per category)
//	   └─ ITK-SNAP                 (one submenu per app, as Neurodesk nests tool/version)
//	      ├─ ITK-SNAP 4.4.0        (its versions, newest first)
//	      └─ ITK-SNAP 4.2.2
//
// The menu file goes to the config home, not next to the entries, because
// desktops look for merged menus only in $XDG_CONFIG_DIRS and
// $XDG_CONFIG_HOME.
//
// Entry files are named with "_" between id and version, because an id
// never holds "_" and a version may hold "-": "kubedesk-<id>-<version>"
// would give "foo-1 2" and "foo 1-2" the same file.
//
// Write is idempotent: unchanged files are not rewritten, changed ones are
// replaced by rename, and kubedesk-* entries of apps no longer in the
// catalog are removed. Files without the kubedesk prefix are never
// touched. Render gives the same files without writing them, for tests
// and golden files.
package menu
