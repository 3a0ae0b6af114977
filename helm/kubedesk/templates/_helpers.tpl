{{- /*
  Label helpers, in the usual chart style. Each takes the root context
  merged with a component: (merge (dict "component" "spawner") .) -- a fresh
  dict first, so the root context is not modified.

    kubedesk.labels        every label of an object: the selector labels plus
                           helm.sh/chart and app.kubernetes.io/{version,managed-by}
    kubedesk.matchLabels   the selector labels: app.kubernetes.io/{name,instance,component};
                           they never carry the chart's version, since a
                           Deployment's selector is immutable
    kubedesk.chart         chart name and version, as helm.sh/chart wants

  Session pods are not labelled here: the service labels them
  (spawner/internal/podspec/labels.go), with KubeSpawner's keys, and
  kubedesk.sessions.matchLabels selects them.
*/}}

{{- define "kubedesk.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kubedesk.matchLabels" -}}
app.kubernetes.io/name: {{ include "kubedesk.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "kubedesk.labels" -}}
{{ include "kubedesk.matchLabels" . }}
helm.sh/chart: {{ include "kubedesk.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubedesk
{{- end }}

{{- /*
  kubedesk.sessions.matchLabels: the labels the service puts on every
  session pod (podspec.SessionSelector).
*/}}
{{- /*
  kubedesk.sessions.namespace: where session and app pods live, with their
  home volumes, Secrets and intents: sessions.namespace, else the release's.
*/}}
{{- define "kubedesk.sessions.namespace" -}}
{{- .Values.sessions.namespace | default .Release.Namespace }}
{{- end }}

{{- /*
  kubedesk.release.namespaceSelector: a namespaceSelector for the release's
  namespace, where the service and (by default) the hub are, when sessions
  are elsewhere; nothing when they share it (a peer without one means the
  policy's own namespace).
*/}}
{{- define "kubedesk.release.namespaceSelector" -}}
{{- if ne (include "kubedesk.sessions.namespace" .) .Release.Namespace }}
namespaceSelector:
  matchLabels:
    kubernetes.io/metadata.name: {{ .Release.Namespace | quote }}
{{- end }}
{{- end }}

{{- define "kubedesk.sessions.matchLabels" -}}
app.kubernetes.io/managed-by: kubedesk
component: singleuser-server
{{- end }}

{{- /*
  kubedesk.apps.matchLabels: the labels the service puts on every app pod
  (podspec.AppSelector).
*/}}
{{- define "kubedesk.apps.matchLabels" -}}
app.kubernetes.io/managed-by: kubedesk
component: app
{{- end }}

{{- /*
  kubedesk.apps.xpraPort: the TCP port of the Xpra sidecar in every app pod
  (podspec.DefaultXpraPort), which session pods attach to.
*/}}
{{- define "kubedesk.apps.xpraPort" -}}
14500
{{- end }}

{{- /*
  kubedesk.egressAllowRules: NetworkPolicyEgressRules for Zero to
  JupyterHub's egressAllowRules, but DNS (each policy has its own DNS rule):
  the internet (nonPrivateIPs), the private ranges (privateIPs) and the
  cloud metadata servers (cloudMetadataServer), each excluded from the
  others unless allowed. Link-local addresses (169.254.0.0/16) are never
  "the internet": clouds keep more than the metadata server there (AWS's
  container credentials at 169.254.170.2, its DNS at 169.254.169.253), and
  a node-local DNS cache is reached through clusterDNS. Call with the
  egressAllowRules mapping.
*/}}
{{- define "kubedesk.egressAllowRules" -}}
{{- $private := list "10.0.0.0/8" "172.16.0.0/12" "192.168.0.0/16" }}
{{- /* AWS, GCP, Azure, OpenStack, Oracle; Alibaba's. */}}
{{- $metadata := list "169.254.169.254/32" "100.100.100.200/32" }}
{{- $linkLocal := "169.254.0.0/16" }}
{{- if .nonPrivateIPs }}
{{- $except := list $linkLocal }}
{{- if not .privateIPs }}
{{- $except = concat $except $private }}
{{- end }}
{{- if not .cloudMetadataServer }}
{{- $except = append $except (last $metadata) }}
{{- end }}
# The internet: every address but {{ join ", " $except }}.
- to:
    - ipBlock:
        cidr: 0.0.0.0/0
        except:
          {{- toYaml $except | nindent 10 }}
{{- end }}
{{- if .privateIPs }}
# Other pods and services at private addresses.
- to:
    {{- range $private }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
{{- end }}
{{- if .cloudMetadataServer }}
# The cloud metadata servers, allowed on purpose.
- to:
    {{- range $metadata }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
{{- end }}
{{- end }}

{{- /*
  kubedesk.hub.peer: a NetworkPolicyPeer that matches the JupyterHub hub
  pods (hub.podLabels, plus release=hub.release when set), in
  hub.namespaceSelector's namespaces when set.
*/}}
{{- define "kubedesk.hub.peer" -}}
- podSelector:
    matchLabels:
      {{- range $k, $v := .Values.hub.podLabels }}
      {{ $k }}: {{ $v | quote }}
      {{- end }}
      {{- with .Values.hub.release }}
      release: {{ . | quote }}
      {{- end }}
  {{- with .Values.hub.namespaceSelector }}
  namespaceSelector:
    {{- toYaml . | nindent 4 }}
  {{- else }}
  {{- with include "kubedesk.release.namespaceSelector" . | trim }}{{ . | nindent 2 }}{{- end }}
  {{- end }}
{{- end }}

{{- /*
  kubedesk.dns.egress: the NetworkPolicyEgressRule to the cluster's DNS
  (clusterDNS), port 53 over UDP and TCP: its pods in its namespace, and its
  address blocks. No other address gets port 53.
*/}}
{{- define "kubedesk.dns.egress" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.clusterDNS.namespace | quote }}
      podSelector:
        matchLabels:
          {{- range $k, $v := .Values.clusterDNS.podLabels }}
          {{ $k }}: {{ $v | quote }}
          {{- end }}
    {{- range .Values.clusterDNS.ipBlocks }}
    - ipBlock:
        cidr: {{ . | quote }}
    {{- end }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}

{{- /*
  kubedesk.sessions.allowedPrivilegedFields: every name listed in an
  allow_privileged_fields of the pod settings -- sessions.defaults and each
  profile's, choice's and unlisted choice's kubespawner_override -- as a JSON
  list, sorted. The admission policy lets these through, for any pod of the
  service: it cannot tell one profile's pods from another's.
*/}}
{{- define "kubedesk.sessions.allowedPrivilegedFields" -}}
{{- $overrides := list (.Values.sessions.defaults | default dict) }}
{{- range .Values.sessions.profiles }}
{{- $overrides = append $overrides (.kubespawner_override | default dict) }}
{{- range $_, $option := (.profile_options | default dict) }}
{{- range $_, $choice := ($option.choices | default dict) }}
{{- $overrides = append $overrides ($choice.kubespawner_override | default dict) }}
{{- end }}
{{- with $option.unlisted_choice }}
{{- $overrides = append $overrides (.kubespawner_override | default dict) }}
{{- end }}
{{- end }}
{{- end }}
{{- $fields := list }}
{{- range $overrides }}
{{- $fields = concat $fields (.allow_privileged_fields | default list) }}
{{- end }}
{{- $fields | uniq | sortAlpha | toJson }}
{{- end }}

{{- /*
  kubedesk.image: repository:tag, or repository@digest; an empty tag is the
  chart's appVersion. Call with (dict "image" <values> "root" $).
*/}}
{{- define "kubedesk.image" -}}
{{- $image := .image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository ($image.tag | default .root.Chart.AppVersion) }}
{{- end }}
{{- end }}

{{- /* kubedesk.spawner.image: the service's image (kubedesk.image). */}}
{{- define "kubedesk.spawner.image" -}}
{{- include "kubedesk.image" (dict "image" .Values.spawner.image "root" .) }}
{{- end }}

{{- /*
  kubedesk.secretValue: the value of key in the existing Secret named name,
  else the given value, else a new random one. Generated values are thus made
  once and kept across upgrades; `helm template` (no cluster) makes new ones
  each time. Call with (dict "root" $ "name" ... "key" ... "value" ...).
*/}}
{{- define "kubedesk.secretValue" -}}
{{- if .value }}
{{- .value | b64enc }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name }}
{{- if and $existing (index ($existing.data | default dict) .key) }}
{{- index $existing.data .key }}
{{- else }}
{{- randAlphaNum 48 | b64enc }}
{{- end }}
{{- end }}
{{- end }}

{{/*
  kubedesk.secretChecksum: the spawner pod's checksum/secret annotation,
  which rolls the pod when an operator sets or rotates a value of
  spawner.auth. Anyone who may read the Deployment reads the annotation, so
  it is keyed: a bare hash of the values would let a weak hub token be
  guessed offline. Helm has no HMAC; this is HMAC's nested shape over
  SHA-256, H(K, 0x5c, H(K, 0x36, values)), whose outer hash also stops a
  length extension. The key K is the session signing key: the value when
  set, else the one the chart generated into the Secret (lookup). Without a
  value the annotation is "generated": generated values never change, so
  nothing rolls. With a hub token set before the Secret exists (the first
  install) there is no key yet: "unkeyed", and the first upgrade rolls the
  pod once.
*/}}
{{- define "kubedesk.secretChecksum" -}}
{{- $auth := .Values.spawner.auth }}
{{- if not (or $auth.hubToken $auth.sessionSigningKey $auth.hubAPIToken) }}
{{- print "generated" }}
{{- else }}
{{- $key := $auth.sessionSigningKey }}
{{- if not $key }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "kubedesk.spawner-secret.fullname" .) }}
{{- $key = index (($existing | default dict).data | default dict) "session-signing-key" | default "" | b64dec }}
{{- end }}
{{- if $key }}
{{- printf "%s\x5c%s" $key (printf "%s\x36%s" $key (toJson $auth) | sha256sum) | sha256sum }}
{{- else }}
{{- print "unkeyed" }}
{{- end }}
{{- end }}
{{- end }}
