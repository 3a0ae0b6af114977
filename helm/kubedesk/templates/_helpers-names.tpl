{{- /*
  Resource names, one helper per resource, so templates never spell a name
  out and a parent chart can refer to them (as Zero to JupyterHub's
  _helpers-names.tpl does). nameOverride and fullnameOverride are handled in
  kubedesk.fullname only.
*/}}

{{- /* kubedesk.name: the chart's name, or nameOverride. */}}
{{- define "kubedesk.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- /*
  kubedesk.fullname: the prefix of every resource name: fullnameOverride, else
  the release name, with the chart's name appended unless the release name
  already contains it ("kubedesk" -> "kubedesk", "jh" -> "jh-kubedesk").
*/}}
{{- define "kubedesk.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "kubedesk.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- /* kubedesk.spawner.fullname: the service's Deployment and Service. */}}
{{- define "kubedesk.spawner.fullname" -}}
{{- printf "%s-spawner" (include "kubedesk.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- /* kubedesk.spawner-serviceaccount.fullname: the service's identity. */}}
{{- define "kubedesk.spawner-serviceaccount.fullname" -}}
{{- if .Values.spawner.serviceAccount.create }}
{{- .Values.spawner.serviceAccount.name | default (include "kubedesk.spawner.fullname" .) }}
{{- else }}
{{- required "spawner.serviceAccount.name is required when spawner.serviceAccount.create is false" .Values.spawner.serviceAccount.name }}
{{- end }}
{{- end }}

{{- /* kubedesk.spawner-role.fullname: the Role and its RoleBinding. */}}
{{- define "kubedesk.spawner-role.fullname" -}}
{{- include "kubedesk.spawner.fullname" . }}
{{- end }}

{{- /* kubedesk.spawner-secret.fullname: the hub token and signing key. */}}
{{- define "kubedesk.spawner-secret.fullname" -}}
{{- include "kubedesk.spawner.fullname" . }}
{{- end }}

{{- /* kubedesk.spawner-config.fullname: the ConfigMap of defaults and profiles. */}}
{{- define "kubedesk.spawner-config.fullname" -}}
{{- include "kubedesk.spawner.fullname" . }}
{{- end }}

{{- /* kubedesk.spawner-netpol.fullname: the service's NetworkPolicy. */}}
{{- define "kubedesk.spawner-netpol.fullname" -}}
{{- include "kubedesk.spawner.fullname" . }}
{{- end }}

{{- /* kubedesk.sessions-netpol.fullname: the session pods' NetworkPolicy. */}}
{{- define "kubedesk.sessions-netpol.fullname" -}}
{{- printf "%s-sessions" (include "kubedesk.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- /* kubedesk.apps-netpol.fullname: the app pods' NetworkPolicy. */}}
{{- define "kubedesk.apps-netpol.fullname" -}}
{{- printf "%s-apps" (include "kubedesk.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- /*
  kubedesk.spawner-admissionpolicy.fullname: the ValidatingAdmissionPolicy
  and its binding. They are cluster-wide, so the name carries the namespace:
  releases of the same name in two namespaces get one each.
*/}}
{{- define "kubedesk.spawner-admissionpolicy.fullname" -}}
{{- printf "%s-%s" (include "kubedesk.spawner.fullname" .) .Release.Namespace }}
{{- end }}
