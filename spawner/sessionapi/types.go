package sessionapi

import (
	"fmt"
	"time"
)

// CatalogApp is one version of an app the session may launch, as GET
// /catalog lists it: what a person needs to pick it (schema CatalogApp).
// It is spawner/catalog.App without what only the service needs to build
// the app's pod (image, command, env, resources, placement, profiles).
type CatalogApp struct {
	// ID names the app in launch requests: a DNS label.
	ID string `json:"id"`
	// Name is shown in menus.
	Name string `json:"name"`
	// Version tells versions of one ID apart: a Kubernetes label value,
	// ordered by CompareVersions.
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	// Icon is an icon theme name, an absolute file path or a URL.
	Icon string `json:"icon,omitempty"`
	// Categories group the app in menus (see Slug).
	Categories []string `json:"categories,omitempty"`
	// FileTypes are what the app opens: file name extensions with their
	// dot (".nii.gz") and MIME types ("image/png").
	FileTypes []string `json:"file_types,omitempty"`
	// Terminal asks for the app to run in a terminal, as command-line
	// tools do.
	Terminal bool `json:"terminal,omitempty"`
}

// String is the app's id and version, as in "itksnap 4.4.0".
func (a CatalogApp) String() string { return a.ID + " " + a.Version }

// LaunchRequest asks for an app (schema LaunchRequest). Files are
// absolute paths; the service checks that they lie inside the user's home.
type LaunchRequest struct {
	App string `json:"app"`
	// Version "" launches the newest (CompareVersions).
	Version string   `json:"version,omitempty"`
	Files   []string `json:"files,omitempty"`
}

// Status is where an app is in its life.
type Status string

// The statuses of an App.
const (
	StatusStarting Status = "starting"
	StatusRunning  Status = "running"
	StatusStopping Status = "stopping"
	StatusEnded    Status = "ended"
	StatusFailed   Status = "failed"
)

// App is one of the session's apps, an app pod (schema App).
type App struct {
	// ID names the app in GET and DELETE /apps/{id}; it is its pod's name.
	ID      string `json:"id"`
	App     string `json:"app"`
	Version string `json:"version"`
	Status  Status `json:"status"`
	// Message says what the app is doing or why it ended, for a person.
	Message string `json:"message,omitempty"`
	Pod     string `json:"pod"`
	// ExitCode is the app's, once it ended.
	ExitCode  *int      `json:"exit_code,omitempty"`
	StartedAt time.Time `json:"started_at"`
	// Xpra is where the app's Xpra server listens, once it runs. The
	// launcher agent attaches to it; its local API hands it out without
	// its secrets.
	Xpra *Xpra `json:"xpra,omitempty"`
}

// Xpra is an app's Xpra server address and its per-app secrets: the
// password and the key of the stream's AES encryption.
type Xpra struct {
	Host     string `json:"host"`
	Port     int32  `json:"port"`
	Password string `json:"password,omitempty"`
	// EncryptionKey is the key of the stream's AES encryption (none from a
	// service that predates encryption).
	EncryptionKey string `json:"encryption_key,omitempty"`
}

// Error is the error document of every route of the service's API, the
// session routes' and the hub's (schema Error): a stable code and a
// message for a person.
type Error struct {
	// Status is the HTTP status; it is not part of the JSON document.
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field names the request field at fault, when there is one.
	Field string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status)
}
