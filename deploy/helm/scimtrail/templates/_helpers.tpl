{{/* The chart's name, or nameOverride. */}}
{{- define "scimtrail.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The objects' name: the release name, with the chart's name unless the
release name already holds it. */}}
{{- define "scimtrail.fullname" -}}
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

{{- define "scimtrail.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scimtrail.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "scimtrail.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "scimtrail.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "scimtrail.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "scimtrail.claimName" -}}
{{- printf "%s-state" (include "scimtrail.fullname" .) }}
{{- end }}

{{/* The state volume: the spool, the identity cache and the registry. */}}
{{- define "scimtrail.stateDir" -}}
/var/lib/scimtrail
{{- end }}

{{/* The environment variables the console's credentials come through, by
key of registry.console.existingSecret. The config names only those wired:
an unset ${VAR} is a config error. */}}
{{- define "scimtrail.consoleEnv" -}}
{{- dict "console-user" "SCIMTRAIL_CONSOLE_USER" "console-token-sha256" "SCIMTRAIL_CONSOLE_TOKEN_SHA256" | toJson }}
{{- end }}

{{/* Where a Kafka CA bundle from sinks.kafka.tls.caSecret is mounted. */}}
{{- define "scimtrail.kafkaCADir" -}}
/etc/scimtrail-kafka-ca
{{- end }}

{{/* Where an OTLP CA bundle from sinks.otlp.tls.caSecret is mounted. */}}
{{- define "scimtrail.otlpCADir" -}}
/etc/scimtrail-otlp-ca
{{- end }}

{{/* "true" when scimtrail makes OTLP payloads: the OTLP sink, or Kafka
messages encoded otlp_proto. Their resource describes the pod. */}}
{{- define "scimtrail.otlpResource" -}}
{{- $kafka := .Values.sinks.kafka -}}
{{- if or .Values.sinks.otlp.endpoint (and $kafka.brokers (eq $kafka.encoding "otlp_proto")) }}true{{ end }}
{{- end }}

{{/* The OTLP receiver's port: networkPolicy.otlpPort, else the endpoint's
port, else OTLP's registered port for the protocol (as scimtrail does: an
https endpoint without a port is still 4317 or 4318, not 443). */}}
{{- define "scimtrail.otlpPort" -}}
{{- $otlp := .Values.sinks.otlp -}}
{{- $hostPort := (urlParse $otlp.endpoint).host -}}
{{- if .Values.networkPolicy.otlpPort -}}
{{ .Values.networkPolicy.otlpPort }}
{{- else if regexMatch ":[0-9]+$" $hostPort -}}
{{ regexFind "[0-9]+$" $hostPort }}
{{- else if eq $otlp.protocol "grpc" -}}
4317
{{- else -}}
4318
{{- end }}
{{- end }}

{{/* scimtrail.yaml: every key is a flag of "scimtrail proxy". Values are
written with toJson, which YAML reads as the same strings. */}}
{{- define "scimtrail.config" -}}
{{- $kafka := .Values.sinks.kafka -}}
{{- $otlp := .Values.sinks.otlp -}}
upstream: {{ .Values.upstream | toJson }}
listen: ":8080"
# 0.0.0.0 so that the kubelet's probes and Prometheus reach it.
admin-listen: "0.0.0.0:9464"
# The identity cache and the spool.
state-dir: {{ include "scimtrail.stateDir" . }}
shutdown-timeout: {{ .Values.shutdownTimeout | toJson }}
{{- with .Values.idps }}
idp:
{{- range . }}
  - {{ toJson . }}
{{- end }}
{{- end }}
spool-max-bytes: {{ int64 .Values.spool.maxBytes }}
spool-sync: {{ .Values.spool.sync | toJson }}
spool-full-policy: {{ .Values.spool.fullPolicy | toJson }}
{{- with .Values.sinks.logFile }}
log-file: {{ toJson . }}
{{- end }}
{{- if $kafka.brokers }}
kafka-brokers:
{{- range $kafka.brokers }}
  - {{ toJson . }}
{{- end }}
kafka-topic: {{ $kafka.topic | toJson }}
kafka-encoding: {{ $kafka.encoding | toJson }}
{{- if $kafka.tls.enabled }}
kafka-tls: true
{{- if $kafka.tls.caSecret }}
kafka-tls-ca: {{ printf "%s/%s" (include "scimtrail.kafkaCADir" .) $kafka.tls.caKey | toJson }}
{{- end }}
{{- end }}
{{- if $kafka.sasl.mechanism }}
kafka-sasl-mechanism: {{ $kafka.sasl.mechanism | toJson }}
kafka-sasl-username: {{ $kafka.sasl.username | toJson }}
# From the Secret {{ $kafka.sasl.existingSecret }}, through the environment.
kafka-sasl-password: ${KAFKA_PASSWORD}
{{- end }}
{{- end }}
{{- if $otlp.endpoint }}
otlp-endpoint: {{ $otlp.endpoint | toJson }}
otlp-protocol: {{ $otlp.protocol | toJson }}
otlp-compression: {{ $otlp.compression | toJson }}
{{- if $otlp.tls.caSecret }}
otlp-ca-file: {{ printf "%s/%s" (include "scimtrail.otlpCADir" .) $otlp.tls.caKey | toJson }}
{{- end }}
{{- if $otlp.headersSecret }}
# Headers: OTEL_EXPORTER_OTLP_HEADERS, from the Secret {{ $otlp.headersSecret }}.
{{- end }}
{{- if $otlp.traces }}
otlp-traces: true
{{- end }}
{{- end }}
{{- if .Values.registry.enabled }}
# Every record also in the registry, on the state volume, for the console
# on the admin port.
registry: {{ printf "%s/registry.db" (include "scimtrail.stateDir" .) | toJson }}
registry-retention: {{ .Values.registry.retention | toJson }}
{{- with .Values.registry.console.existingSecret }}
# Who may read the console: from the Secret {{ . }}, through the environment.
{{- $env := include "scimtrail.consoleEnv" $ | fromJson }}
{{- range $.Values.registry.console.keys }}
{{ . }}:
  - {{ printf "${%s}" (get $env .) | quote }}
{{- end }}
{{- end }}
{{- end }}
log-level: {{ .Values.logLevel | toJson }}
log-format: {{ .Values.logFormat | toJson }}
{{- end }}

{{/* The scimtrail container. Called with (dict "ctx" $ "sidecar" bool):
as a native sidecar it gets restartPolicy Always. */}}
{{- define "scimtrail.container" -}}
{{- $ := .ctx -}}
{{- $kafka := $.Values.sinks.kafka -}}
{{- $otlp := $.Values.sinks.otlp -}}
- name: scimtrail
  image: {{ include "scimtrail.image" $ }}
  imagePullPolicy: {{ $.Values.image.pullPolicy }}
  {{- if .sidecar }}
  # The native sidecar: it starts before the app and stops after it.
  restartPolicy: Always
  {{- end }}
  args: ["proxy", "--config", "/etc/scimtrail/scimtrail.yaml"]
  ports:
    - name: scim
      containerPort: 8080
      protocol: TCP
    - name: admin
      containerPort: 9464
      protocol: TCP
  env:
    {{- if and $kafka.brokers $kafka.sasl.mechanism }}
    - name: KAFKA_PASSWORD
      valueFrom:
        secretKeyRef:
          name: {{ required "sinks.kafka.sasl.existingSecret: the Secret holding the Kafka password is required with sinks.kafka.sasl.mechanism" $kafka.sasl.existingSecret }}
          key: {{ $kafka.sasl.passwordKey }}
    {{- end }}
    {{- if and $otlp.endpoint $otlp.headersSecret }}
    # The OTLP headers (API keys, tokens), key=value,key2=value2.
    - name: OTEL_EXPORTER_OTLP_HEADERS
      valueFrom:
        secretKeyRef:
          name: {{ $otlp.headersSecret }}
          key: {{ $otlp.headersKey }}
    {{- end }}
    {{- if include "scimtrail.otlpResource" $ }}
    # The OTLP resource: which pod the records and spans come from.
    - name: K8S_POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: K8S_NAMESPACE_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.namespace
    {{- $attrs := list "k8s.pod.name=$(K8S_POD_NAME)" "k8s.namespace.name=$(K8S_NAMESPACE_NAME)" }}
    {{- range $k, $v := $otlp.resourceAttributes }}
    {{- $attrs = append $attrs (printf "%s=%s" $k $v | replace "$" "$$") }}
    {{- end }}
    - name: OTEL_RESOURCE_ATTRIBUTES
      value: {{ join "," $attrs | toJson }}
    {{- with $otlp.serviceName }}
    - name: OTEL_SERVICE_NAME
      value: {{ . | replace "$" "$$" | toJson }}
    {{- end }}
    {{- end }}
    {{- if and $.Values.registry.enabled $.Values.registry.console.existingSecret }}
    {{- $consoleEnv := include "scimtrail.consoleEnv" $ | fromJson }}
    # Who may read the console, from the Secret: the config names them.
    {{- range $.Values.registry.console.keys }}
    - name: {{ get $consoleEnv . }}
      valueFrom:
        secretKeyRef:
          name: {{ $.Values.registry.console.existingSecret }}
          key: {{ . }}
    {{- end }}
    {{- end }}
    {{- if and $.Values.resources.limits $.Values.resources.limits.memory }}
    # The Go runtime collects harder near the memory limit instead of being
    # OOM-killed.
    - name: GOMEMLIMIT
      valueFrom:
        resourceFieldRef:
          resource: limits.memory
    {{- end }}
  # Until the spool and the identity cache are open and the listeners up.
  startupProbe:
    httpGet:
      path: /healthz
      port: admin
    periodSeconds: 2
    failureThreshold: 60
  livenessProbe:
    httpGet:
      path: /healthz
      port: admin
    periodSeconds: 10
    timeoutSeconds: 2
    failureThreshold: 3
  # 503 while shutting down; a sink that is behind does not make it unready.
  readinessProbe:
    httpGet:
      path: /readyz
      port: admin
    periodSeconds: 5
    timeoutSeconds: 2
    failureThreshold: 2
  {{- with $.Values.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    capabilities:
      drop: ["ALL"]
    seccompProfile:
      type: RuntimeDefault
  volumeMounts:
    - name: config
      mountPath: /etc/scimtrail
      readOnly: true
    - name: state
      mountPath: {{ include "scimtrail.stateDir" $ }}
    {{- if and $kafka.brokers $kafka.tls.enabled $kafka.tls.caSecret }}
    - name: kafka-ca
      mountPath: {{ include "scimtrail.kafkaCADir" $ }}
      readOnly: true
    {{- end }}
    {{- if and $otlp.endpoint $otlp.tls.caSecret }}
    - name: otlp-ca
      mountPath: {{ include "scimtrail.otlpCADir" $ }}
      readOnly: true
    {{- end }}
{{- end }}
