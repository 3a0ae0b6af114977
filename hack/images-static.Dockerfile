# The local stand-in for gcr.io/distroless/static-debian12:nonroot, which
# cannot be pulled here: hack/images.sh builds it from the Debian base it
# makes and passes it to images/launcher and images/spawner as
# --build-arg BASE=localhost/kubedesk-base/static-debian12:nonroot.
# What of distroless static matters to a static Go binary, from Debian 12's
# own packages: /etc/passwd and /etc/group with root, nobody and nonroot
# (65532, home /home/nonroot), CA certificates (ca-certificates), time
# zones (tzdata), /etc/services and /etc/protocols (netbase),
# /etc/nsswitch.conf, /etc/os-release, /tmp (1777), the packages' copyright
# files; no shell, no package manager, no libc. USER nonroot, like :nonroot.
FROM debian:12.11-slim AS files
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata netbase \
 && r=/rootfs \
 && mkdir -p $r/etc/ssl/certs $r/usr/share/doc $r/tmp $r/root $r/home/nonroot $r/var/lib/dpkg/status.d \
 && cp /etc/ssl/certs/ca-certificates.crt $r/etc/ssl/certs/ \
 && cp -a /usr/share/zoneinfo $r/usr/share/ \
 && cp /etc/services /etc/protocols /etc/rpc $r/etc/ \
 && cp -L /etc/os-release $r/etc/os-release \
 && for p in base-files ca-certificates netbase tzdata; do \
      mkdir -p $r/usr/share/doc/$p && cp /usr/share/doc/$p/copyright $r/usr/share/doc/$p/; \
      dpkg-query -s $p >$r/var/lib/dpkg/status.d/$p; \
    done \
 && printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
      'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
      'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >$r/etc/passwd \
 && printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'tty:x:5:' 'staff:x:50:' 'nonroot:x:65532:' >$r/etc/group \
 && echo 'hosts: files dns' >$r/etc/nsswitch.conf \
 && chmod 1777 $r/tmp && chmod 0700 $r/root && chown 65532:65532 $r/home/nonroot && chmod 0700 $r/home/nonroot

FROM scratch
COPY --from=files /rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
LABEL org.opencontainers.image.description="kubedesk's local stand-in for gcr.io/distroless/static-debian12:nonroot (hack/images-static.Dockerfile)"
USER 65532:65532
WORKDIR /home/nonroot
