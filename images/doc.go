// Package images holds the Dockerfiles of kubedesk's images (one directory
// each) and a test of the policies every one of them must follow: a pinned
// base, a final USER that is not root, an ENTRYPOINT or CMD, and COPY
// sources that exist in the build context (or, for _output/bin binaries,
// that `make image-binaries` builds). The images cannot be built on the dev
// machine; this test and the dev node's end-to-end tests stand in.
package images
