"""The simulated WhatsApp network behind the Evolution-compatible API.

Everything lives in memory. Instances follow Evolution's state machine (close → connecting with
rotating QR codes → open; transient drops reconnect silently, terminal ones need a new QR).
Messages travel between accounts (instances' handsets and external contacts) and produce the
webhooks Evolution would send: ``send.message`` and ``messages.update`` acks on the sender,
``messages.upsert`` on the receiver. All "later" work goes through one ``Scheduler``.

Modules, by concern (each imports only those above it in this list):

* ``faults`` — request fault injection (latency, spikes, error rates);
* ``state`` — constants and the records (``Instance``, ``Account``, ``Contact``, messages);
* ``core`` — ``NetState``: the shared state, ids, delays, account lookup, webhook emission;
* ``views`` — the JSON shapes (Evolution rows and payloads, ``/_sim`` views, stats);
* ``profiles`` — a crowd of contacts from a mix of profiles (responsive, silent, leaver,
  blocker, absent);
* ``contacts`` — simulated external contacts and how they answer;
* ``pairing`` — instance lifecycle: QR rotation, scan, open, disconnects, bans;
* ``routing`` — messages between numbers, delivery/read acks, pending events;
* ``messaging`` — where messages start: the send API and the simulated people;
* ``facade`` — ``Network``, the state plus one collaborator per concern.
"""

from mirage.simulator.network.contacts import DEFAULT_REPLIES
from mirage.simulator.network.core import NetState
from mirage.simulator.network.facade import Network
from mirage.simulator.network.faults import FaultPlan, RequestFaults
from mirage.simulator.network.state import (
    CONNECT_QR_WAIT_S,
    CREATE_QR_WAIT_S,
    DEFAULT_SETTINGS,
    DELIVERY_ACK_S,
    INTEGRATION,
    PAIRING_RESTART_S,
    PRESENCES,
    READ_S,
    RECONNECT_S,
    REPLY_S,
    SERVER_ACK_S,
    STATUS_RANK,
    TERMINAL_CODES,
    Account,
    Contact,
    Instance,
    NetMessage,
    QRSession,
    StoredMessage,
    iso_now,
)
from mirage.simulator.network.views import device_of

__all__ = [
    "CONNECT_QR_WAIT_S",
    "CREATE_QR_WAIT_S",
    "DEFAULT_REPLIES",
    "DEFAULT_SETTINGS",
    "DELIVERY_ACK_S",
    "INTEGRATION",
    "PAIRING_RESTART_S",
    "PRESENCES",
    "READ_S",
    "RECONNECT_S",
    "REPLY_S",
    "SERVER_ACK_S",
    "STATUS_RANK",
    "TERMINAL_CODES",
    "Account",
    "Contact",
    "FaultPlan",
    "Instance",
    "NetMessage",
    "NetState",
    "Network",
    "QRSession",
    "RequestFaults",
    "StoredMessage",
    "device_of",
    "iso_now",
]
