{{/* Chart name, overridable. */}}
{{- define "drover.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Release-wide prefix. Truncated to 40 so "<prefix>-<service>" (the longest service name is
17 characters) stays within the 63-character name limit.
*/}}
{{- define "drover.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "drover.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of one service's objects. Call with (dict "root" $ "component" $name). */}}
{{- define "drover.componentName" -}}
{{- printf "%s-%s" (include "drover.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one service. Call with (dict "root" $ "component" $name). */}}
{{- define "drover.selectorLabels" -}}
app.kubernetes.io/name: {{ include "drover.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels shared by every release object (no component). Call with the root context. */}}
{{- define "drover.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: drover
{{- end -}}

{{/* All labels of one service's objects. Call with (dict "root" $ "component" $name). */}}
{{- define "drover.labels" -}}
{{ include "drover.selectorLabels" . }}
{{ include "drover.commonLabels" .root }}
{{- end -}}

{{/* Service account name. */}}
{{- define "drover.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "drover.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Image of one service. Call with (dict "root" $ "name" $name "svc" $svc). */}}
{{- define "drover.image" -}}
{{- $img := .root.Values.image -}}
{{- $tag := .svc.imageTag | default $img.tag | default .root.Chart.AppVersion -}}
{{- $repo := .svc.imageRepository | default (printf "%s%s" $img.repositoryPrefix .name) -}}
{{- if $img.registry -}}
{{- printf "%s/%s:%s" $img.registry $repo $tag -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/* Whether a service's HPA exists. Call with the service's values; renders "true" or "". */}}
{{- define "drover.autoscaled" -}}
{{- if dig "autoscaling" "enabled" false . -}}true{{- end -}}
{{- end -}}

{{/* Workload kind of a service: Deployment, or StatefulSet with `statefulSet: true`. */}}
{{- define "drover.workloadKind" -}}
{{- if .statefulSet -}}StatefulSet{{- else -}}Deployment{{- end -}}
{{- end -}}

{{/*
Name of a service's Deployment or StatefulSet. Call with (dict "root" $ "component" $name "svc"
$svc). A StatefulSet's name stays within 52 characters: its pods carry it with a revision hash
in a label (63 at most).
*/}}
{{- define "drover.workloadName" -}}
{{- $name := include "drover.componentName" . -}}
{{- if .svc.statefulSet -}}
{{- $name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name -}}
{{- end -}}
{{- end -}}
