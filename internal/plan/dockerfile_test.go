package plan

import (
	"reflect"
	"testing"
)

func TestBaseImages(t *testing.T) {
	for _, tc := range []struct {
		name       string
		dockerfile string
		args       map[string]string
		want       []string
	}{
		{"two stages", "FROM golang:1.26-alpine AS build\nRUN go build\nFROM scratch\nCOPY --from=build /app /app\n", nil, []string{"golang:1.26-alpine"}},
		{"stage reused, case, platform flag, comments and continuations",
			"# syntax=docker/dockerfile:1\nfrom --platform=$BUILDPLATFORM node:18-bookworm-slim as Deps\nRUN npm ci \\\n  --omit=dev\nFROM deps AS test\nFROM \\\n  debian:bookworm-slim\nFROM node:18-bookworm-slim\n",
			nil, []string{"node:18-bookworm-slim", "debian:bookworm-slim"}},
		{"ARG defaults and build arguments", "ARG BASE=python\nARG TAG=3.11-slim\nFROM ${BASE}:${TAG}\nARG LATE=x\nFROM $BASE:${OTHER:-3.12-slim}\n",
			map[string]string{"TAG": "3.11-slim-bookworm"}, []string{"python:3.11-slim-bookworm", "python:3.12-slim"}},
		{"unresolvable variable left out", "FROM $UNKNOWN\nFROM alpine:3.22@sha256:abc\n", nil, []string{"alpine:3.22@sha256:abc"}},
		{"nothing", "# only a comment\n", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := BaseImages(tc.dockerfile, tc.args); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzBaseImages(f *testing.F) {
	f.Add("FROM a AS b\nFROM b\nARG X=${Y:-z}\nFROM $X \\\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, ref := range BaseImages(s, map[string]string{"X": "y"}) {
			if ref == "" {
				t.Fatalf("empty base image from %q", s)
			}
		}
	})
}

func TestRunsOnTargetAndFromTarget(t *testing.T) {
	cross := "FROM --platform=$BUILDPLATFORM golang:1.26 AS build\nARG TARGETARCH\nRUN GOARCH=$TARGETARCH go build -o /app .\nFROM debian:bookworm-slim\nCOPY --from=build /app /app\n"
	if RunsOnTarget(cross) {
		t.Error("a cross-compiling Dockerfile (RUN only in the $BUILDPLATFORM stage) said to run on the target")
	}
	emulated := "FROM python:3.11-slim\nRUN pip install flask\n"
	if !RunsOnTarget(emulated) {
		t.Error("RUN in a target stage not seen")
	}
	from := FromLines(cross, nil)
	if len(from) != 2 || from[0].Target || !from[1].Target {
		t.Errorf("FromLines targets: %+v (golang is the build platform's, debian the target's)", from)
	}
}
