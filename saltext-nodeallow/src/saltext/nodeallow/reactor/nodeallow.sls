#!py
"""nodeallow reactor: hand salt-api hook events under the nodeallow hook path to the ingest runner.

Only on a master without the nodeallow engine: the engine (engines: [nodeallow: {}])
ingests the hook events itself, in batches, straight off the bus, so this reactor
then hands on nothing and a burst does not pay a runner job per body.

Written in Python so the raw body reaches the runner byte for byte (its HMAC
signature covers the exact text; a Jinja/YAML round trip could change it). No
decisions are made here: Salt renders reactor files one after another, and the
runner runs in the reactor's thread pool.

Only the signature header and Content-Length are passed on, not all headers:
runner arguments are kept in the master's job cache, and the headers may hold an
X-Auth-Token. Content-Length lets the runner tell a body the event bus trimmed
(protocol.limits.check_whole: too-large) from a bad signature.
salt-api (CherryPy) title-cases header names, so the lookup is exact.

In a Salt master cluster every event is forwarded to every peer, marked with ``__peer_id``:
only the master whose salt-api received the POST ingests it (the peers share its store), so
one POST is one ingest, not one per master.
"""

from saltext.nodeallow import ingest


def run():
    """Return one reaction: runner nodeallow.ingest with the event's tag, raw body, signature header and length."""
    if "__peer_id" in data or ingest.engine_ingests(__opts__):  # noqa: F821 - set by Salt when rendering
        return {}
    headers = data.get("headers") or {}  # noqa: F821
    return {
        "nodeallow_ingest": {
            "runner.nodeallow.ingest": [
                {
                    "args": [
                        {"tag": tag},  # noqa: F821
                        {"body": data.get("body", "")},  # noqa: F821
                        {
                            "headers": {
                                "X-Hub-Signature-256": headers.get("X-Hub-Signature-256"),
                                "Content-Length": headers.get("Content-Length"),
                            }
                        },
                    ]
                }
            ]
        }
    }
