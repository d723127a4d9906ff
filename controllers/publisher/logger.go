/*
Copyright 2026.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package publisher

import (
	"fmt"

	"github.com/go-logr/logr"
)

// restyLogger sends resty's own messages to logr at V(1): they describe single attempts, and the
// outcome reaches the caller as an error anyway. Without it resty prints to stderr.
type restyLogger struct {
	log logr.Logger
}

// Errorf logs a failed request at V(1).
func (l restyLogger) Errorf(format string, v ...any) {
	l.log.V(1).Info(fmt.Sprintf(format, v...), "source", "resty", "severity", "error")
}

// Warnf logs a failed attempt at V(1).
func (l restyLogger) Warnf(format string, v ...any) {
	l.log.V(1).Info(fmt.Sprintf(format, v...), "source", "resty", "severity", "warning")
}

// Debugf logs resty's debug output at V(2).
func (l restyLogger) Debugf(format string, v ...any) {
	l.log.V(2).Info(fmt.Sprintf(format, v...), "source", "resty")
}
