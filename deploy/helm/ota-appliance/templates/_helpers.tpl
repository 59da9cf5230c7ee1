{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "ota.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release name alone when it already contains the chart name. */}}
{{- define "ota.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ota.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ota.labels" -}}
helm.sh/chart: {{ include "ota.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "ota.name" . }}
{{- end }}

{{/* Selector labels of the appliance pods. */}}
{{- define "ota.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ota.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: appliance
{{- end }}

{{/* Selector labels of the peer agent pods. */}}
{{- define "ota.peerAgentSelectorLabels" -}}
app.kubernetes.io/name: {{ include "ota.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: peer-agent
{{- end }}

{{- define "ota.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ota.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ota.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret with the secret variables: the operator's, or the chart's. */}}
{{- define "ota.secretName" -}}
{{- default (printf "%s-env" (include "ota.fullname" .)) .Values.existingSecret }}
{{- end }}

{{- define "ota.signingKeySecretName" -}}
{{- default (printf "%s-signing-key" (include "ota.fullname" .)) .Values.signingKey.existingSecret }}
{{- end }}

{{/* Where the pod sees the signing key: SIGNING_KEY_FILE. */}}
{{- define "ota.signingKeyFile" -}}
{{- printf "/etc/ota/signing/%s" .Values.signingKey.key }}
{{- end }}

{{/*
A value as an environment string. Helm reads YAML numbers as float64, which print as 4.294967296e+09:
whole numbers are printed as integers.
*/}}
{{- define "ota.envValue" -}}
{{- if kindIs "float64" . }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- end }}

{{/* PUBLIC_BASE_URL: as configured, else from the first ingress host. */}}
{{- define "ota.publicBaseUrl" -}}
{{- if .Values.config.PUBLIC_BASE_URL }}
{{- .Values.config.PUBLIC_BASE_URL }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- printf "%s://%s" (ternary "https" "http" (gt (len .Values.ingress.tls) 0)) (first .Values.ingress.hosts).host }}
{{- end }}
{{- end }}

{{/*
Several replicas share nothing but what is external: PostgreSQL (the embedded database is
single-instance), Redis (scheduler and MQTT fan-out) and S3 (binaries). Refuse to render a
deployment that would silently split its state between pods.
*/}}
{{- define "ota.validate" -}}
{{- $several := or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}
{{- if $several }}
{{- if .Values.existingSecret }}
{{- $secret := lookup "v1" "Secret" .Release.Namespace .Values.existingSecret }}
{{- if and $secret $secret.data }}
{{- if not (hasKey $secret.data "DATABASE_URL") }}
{{- fail (printf "existingSecret %s has no DATABASE_URL: several replicas need external PostgreSQL (the embedded database is single-instance)" .Values.existingSecret) }}
{{- end }}
{{- if not (hasKey $secret.data "REDIS_URL") }}
{{- fail (printf "existingSecret %s has no REDIS_URL: several replicas need Redis (rollout scheduler, MQTT fan-out)" .Values.existingSecret) }}
{{- end }}
{{- end }}
{{- else }}
{{- if not .Values.secrets.DATABASE_URL }}
{{- fail "several replicas (replicaCount > 1 or autoscaling) need secrets.DATABASE_URL: the embedded database is single-instance. Set an external PostgreSQL URL, or replicaCount=1 with persistence.enabled=true" }}
{{- end }}
{{- if not .Values.secrets.REDIS_URL }}
{{- fail "several replicas need secrets.REDIS_URL: without Redis the rollout scheduler and the MQTT broker are per-process" }}
{{- end }}
{{- end }}
{{- if not .Values.config.S3_ENDPOINT }}
{{- fail "several replicas need config.S3_ENDPOINT (S3/MinIO): the filesystem object store is per pod" }}
{{- end }}
{{- if .Values.persistence.enabled }}
{{- fail "several replicas cannot share one data volume: with external services set persistence.enabled=false (DATA_DIR then holds nothing that matters)" }}
{{- end }}
{{- end }}
{{- if and .Values.mqtt.tls.enabled (not .Values.mqtt.tls.secretName) }}
{{- fail "mqtt.tls.enabled needs mqtt.tls.secretName (a kubernetes.io/tls Secret)" }}
{{- end }}
{{- if and .Values.peerAgent.enabled (not .Values.peerAgent.site) }}
{{- fail "peerAgent.enabled needs peerAgent.site" }}
{{- end }}
{{- end }}

{{/* True (non-empty) when the database is external, so pods can roll one by one. */}}
{{- define "ota.externalDatabase" -}}
{{- if or .Values.existingSecret .Values.secrets.DATABASE_URL }}true{{ end }}
{{- end }}
