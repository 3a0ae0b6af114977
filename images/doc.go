// Package images holds the Dockerfiles of kubedesk's images (one directory
// each; images/images.txt names what each builds) and their tests:
//
//   - the policies every Dockerfile must follow (dockerfiles_test.go): a
//     pinned base (a digest or an exact version; a base from an ARG counts
//     by its default, so `ARG BASE=…@sha256:…` + `FROM ${BASE}` is pinned
//     and an unpinned or missing default is not), a final USER that is not
//     root, an ENTRYPOINT or CMD, and COPY sources that exist in the build
//     context (or, for _output/bin binaries, that `make image-binaries`
//     builds);
//   - the built images (build_test.go; as root, not under -short, off with
//     KUBEDESK_IMAGES_TEST=0): hack/images.sh (`make images`) builds every
//     Dockerfile with buildah from bases it makes itself, twice (the second
//     must come from the layer cache), and each image is inspected against
//     its Dockerfile (USER not root, Entrypoint, Cmd, the COPYed files and
//     their modes) and runs a few of its programs (jupyter-lab and
//     kubedesk-launcher in the desktop).
//
// See README.md for the build: storage, bases, names, times.
package images
