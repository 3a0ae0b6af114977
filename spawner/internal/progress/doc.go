// Package progress records the events of one operation (a spawn, a stop) and
// hands them to any number of readers: each reader first gets the whole
// history, then follows new events until the log is closed. This is what lets
// JupyterHub's progress page, a reconnecting shim after a service restart and
// a late `curl` all see the same story of a spawn.
package progress
