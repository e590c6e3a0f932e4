#!/usr/bin/env python3
"""The job of scenarios/scale.json, written by hand in SimPy: what a user would write
instead of mtasim, and the peer of docs/PERFORMANCE.md's comparison.

One sending MTA delivers a campaign evenly spread over the traffic window to two large
receivers (bigmail: a token-bucket rate limit; ymail: a reputation that throttles and
blocks) and a Zipf tail of generated receivers (transient 4xx, unknown users). Per
destination it keeps a ready queue and opens SMTP sessions (connect, then one
single-recipient transaction after another, up to 100 per connection) within a flow
control of its own: a concurrency window that grows with every delivery, a rate limit,
an error threshold that switches to backoff limits, and repeated backoffs escalating to a
suspension. Failed messages retry on an exponential schedule with full jitter.

The numbers below are those of scenarios/scale.json; the command line resizes it as the
README's --set overrides do. It is not mtasim's model line for line (its random streams
differ, so its counts differ a little): it does the same work, and prints its counts so
the comparison can be checked.

    python3 mta_simpy.py --messages 100000 --receivers 100 --duration 1d --over 1d
"""

import argparse
import bisect
import collections
import itertools
import json
import math
import os
import random
import sys
import time

import simpy

# --- scenarios/scale.json -------------------------------------------------------------
SEED = 1
SAMPLE_EVERY = 300.0
MAX_CONNECTIONS = 2000
MAX_DELIVERIES_PER_CONNECTION = 100
SESSION_IDLE_TIMEOUT = 5.0
CONNECT_LATENCY = 0.1
RETRY_INITIAL, RETRY_FACTOR, RETRY_MAX = 600.0, 2.0, 4 * 3600.0
MAX_AGE = 5 * 86400.0

CONCURRENCY_INITIAL, CONCURRENCY_MAX = 5, 20
MAX_RATE = 1200 / 60.0  # per second
ERROR_WINDOW, ERROR_THRESHOLD = 60.0, 20
BACKOFF_CONCURRENCY, BACKOFF_RATE = 2, 600 / 3600.0
RETRY_AFTER, TO_NORMAL_AFTER = 900.0, 1800.0
SUSPEND_AFTER_BACKOFFS, SUSPEND_WITHIN = 3, 6 * 3600.0
SUSPEND_DURATION, SUSPEND_MAX = 2 * 3600.0, 16 * 3600.0

BIGMAIL = dict(share=0.3, median=0.3, sigma=0.5, unknown_user_rate=0.01,
               rate_limit=(400000 / 3600.0, 1000))
YMAIL = dict(share=0.2, median=0.4, sigma=0.6, unknown_user_rate=0.02,
             complaint_rate=0.0001,
             reputation=dict(initial=0.9, baseline=0.9, recovery_per_hour=0.05,
                             penalty_per_complaint=0.002,
                             penalty_per_ignored_deferral=0.0001,
                             penalty_per_unknown_user=0.00001, deferral_memory=300.0,
                             throttle_below=0.6, block_below=0.2, unblock_above=0.4))
GENERATED_SHARE, ZIPF_EXPONENT = 0.5, 1.0
TEMPLATE = dict(median=0.3, sigma=0.7, transient_probability=0.02, unknown_user_rate=0.01)
DETAILED_GENERATED = 10

# Reply texts, as logged and counted.
ACCEPTED = "250 2.0.0 OK"
RATE_LIMITED = "421-4.7.28 rate limited (bigmail)"
THROTTLED = "421 4.7.0 [TS01] temporarily deferred due to user complaints"
TRANSIENT = "451 4.3.0 Temporary failure, server busy, try again later"
USER_UNKNOWN = "550 5.1.1 Recipient address rejected: User unknown"
BLOCKED = "554 5.7.1 client host blocked due to poor reputation"

NORMAL, BACKOFF, SUSPENDED = "normal", "backoff", "suspended"


class TokenBucket:
    """`rate` per second, `burst` at once (a GCRA: the theoretical arrival time)."""

    def __init__(self, rate, burst):
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        self.tat = 0.0

    def next_available(self, now):
        return max(now, self.tat - self.tolerance)

    def take(self, now):
        self.tat = max(self.tat, now) + self.interval

    def set_rate(self, rate):
        self.interval = 1.0 / rate


class Reputation:
    """A score relaxing linearly toward its baseline, lowered by complaints, unknown users
    and attempts made while the receiver is deferring us; throttles below one threshold,
    blocks below another until it climbs above a third."""

    def __init__(self, initial, baseline, recovery_per_hour, penalty_per_complaint,
                 penalty_per_ignored_deferral, penalty_per_unknown_user, deferral_memory,
                 throttle_below, block_below, unblock_above):
        self.score, self.at, self.min = initial, 0.0, initial
        self.baseline = baseline
        self.recovery = recovery_per_hour / 3600.0
        self.per_complaint = penalty_per_complaint
        self.per_ignored_deferral = penalty_per_ignored_deferral
        self.per_unknown_user = penalty_per_unknown_user
        self.memory = deferral_memory
        self.throttle_below, self.block_below = throttle_below, block_below
        self.unblock_above = unblock_above
        self.last_deferral = -math.inf
        self.blocking, self.blocks = False, 0

    def current(self, now):
        step = (now - self.at) * self.recovery
        if self.score < self.baseline:
            return min(self.score + step, self.baseline)
        return max(self.score - step, self.baseline)

    def penalise(self, now, amount):
        self.score, self.at = max(self.current(now) - amount, 0.0), now
        self.min = min(self.min, self.score)

    def attempt(self, now):
        if now - self.last_deferral < self.memory:
            self.penalise(now, self.per_ignored_deferral)

    def is_blocking(self, now):
        score = self.current(now)
        if self.blocking and score > self.unblock_above:
            self.blocking = False
        elif not self.blocking and score < self.block_below:
            self.blocking, self.blocks = True, self.blocks + 1
        return self.blocking

    def throttles(self, now, rng):
        score = self.current(now)
        if score >= self.throttle_below:
            return False
        band = self.throttle_below - self.block_below
        return rng.random() < min(max((self.throttle_below - score) / band, 0.0), 1.0)


class Receiver:
    """A receiving mail system: answers a connect and each transaction after a latency."""

    def __init__(self, name, rng, median, sigma, unknown_user_rate=0.0, rate_limit=None,
                 reputation=None, complaint_rate=0.0, transient_probability=0.0):
        self.name, self.rng = name, rng
        self.mu, self.sigma = math.log(median), sigma
        self.unknown_user_rate = unknown_user_rate
        self.limiter = TokenBucket(*rate_limit) if rate_limit else None
        self.reputation = Reputation(**reputation) if reputation else None
        self.complaint_rate = complaint_rate
        self.transient = transient_probability

    def connect(self, now):
        if self.reputation:
            self.reputation.attempt(now)
        return CONNECT_LATENCY

    def transaction(self, now, message):
        """(reply, kind, seconds until it arrives) for one message."""
        after = self.rng.lognormvariate(self.mu, self.sigma)
        reputation = self.reputation
        if reputation:
            reputation.attempt(now)
        reply, kind = self.verdict(now, message)
        if kind == "accepted" and self.limiter:
            self.limiter.take(now)
        if kind == "temporary" and reputation:
            reputation.last_deferral = max(reputation.last_deferral, now + after)
        return reply, kind, after

    def verdict(self, now, message):
        reputation = self.reputation
        if reputation and reputation.is_blocking(now):
            return BLOCKED, "permanent"
        if message.unknown_user:
            if reputation:
                reputation.penalise(now, reputation.per_unknown_user)
            return USER_UNKNOWN, "permanent"
        if self.limiter and self.limiter.next_available(now) > now:
            return RATE_LIMITED, "temporary"
        if reputation and reputation.throttles(now, self.rng):
            return THROTTLED, "temporary"
        if self.transient and self.rng.random() < self.transient:
            return TRANSIENT, "temporary"
        if reputation and self.complaint_rate and self.rng.random() < self.complaint_rate:
            reputation.penalise(now, reputation.per_complaint)
        return ACCEPTED, "accepted"


class FlowControl:
    """Per-destination dynamic flow control: normal, backoff, suspended."""

    def __init__(self):
        self.state = NORMAL
        self.window = float(CONCURRENCY_INITIAL)
        self.bucket = TokenBucket(MAX_RATE, 1)
        self.errors = collections.deque()
        self.backoffs = collections.deque()
        self.backoff_until = self.suspended_until = 0.0
        self.escalation_level, self.escalation_end = 0, -math.inf
        self.transitions = []
        self.backoff_entries = self.suspensions = 0

    def limit(self):
        if self.state == SUSPENDED:
            return 0
        cap = BACKOFF_CONCURRENCY if self.state == BACKOFF else CONCURRENCY_MAX
        return min(int(self.window), cap)

    def next_wakeup(self):
        if self.state == BACKOFF:
            return self.backoff_until
        if self.state == SUSPENDED:
            return self.suspended_until
        return None

    def advance(self, now):
        """Fires the due timers: a suspension ends in backoff, a backoff in normal."""
        if self.state == SUSPENDED and self.suspended_until <= now:
            self.enter(self.suspended_until, BACKOFF, "suspension over")
            self.backoff_entries += 1
            self.backoff_until = self.suspended_until + TO_NORMAL_AFTER
        if self.state == BACKOFF and self.backoff_until <= now:
            self.enter(self.backoff_until, NORMAL, "to_normal_after elapsed")

    def permit(self, now, in_flight):
        """Returns "granted" (a rate token was taken), "at_limit", or when to ask again
        (the rate limit's next token, or the end of a suspension)."""
        self.advance(now)
        if self.state == SUSPENDED:
            return self.suspended_until
        if in_flight >= self.limit():
            return "at_limit"
        at = self.bucket.next_available(now)
        if at > now:
            return at
        self.bucket.take(now)
        return "granted"

    def record(self, now, kind):
        """One attempt's end; returns the least delay before its message may retry."""
        self.advance(now)
        if self.window < CONCURRENCY_MAX:
            self.window = min(self.window + 1.0, CONCURRENCY_MAX)
        if kind == "temporary" and self.state != SUSPENDED:
            errors = self.errors
            errors.append(now)
            while now - errors[0] >= ERROR_WINDOW:
                errors.popleft()
            if len(errors) >= ERROR_THRESHOLD:
                self.backoff_event(now)
        return 0.0 if self.state == NORMAL else RETRY_AFTER

    def backoff_event(self, now):
        if self.state == NORMAL:
            self.enter(now, BACKOFF, f"{ERROR_THRESHOLD} errors within 1m")
            self.backoff_entries += 1
        self.backoff_until = max(self.backoff_until, now + TO_NORMAL_AFTER)
        self.errors.clear()
        backoffs = self.backoffs
        backoffs.append(now)
        while now - backoffs[0] >= SUSPEND_WITHIN:
            backoffs.popleft()
        if len(backoffs) >= SUSPEND_AFTER_BACKOFFS:
            self.escalate(now)

    def escalate(self, now):
        if now >= self.escalation_end + SUSPEND_WITHIN:
            self.escalation_level = 0
        duration = min(SUSPEND_DURATION * 2 ** self.escalation_level, SUSPEND_MAX)
        self.escalation_level += 1
        self.backoffs.clear()
        self.enter(now, SUSPENDED, f"{SUSPEND_AFTER_BACKOFFS} backoffs within 6h")
        self.suspensions += 1
        self.suspended_until = self.escalation_end = now + duration
        self.errors.clear()

    def enter(self, at, state, reason):
        self.transitions.append((at, self.state, state, reason))
        self.state = state
        self.bucket.set_rate(MAX_RATE if state == NORMAL else BACKOFF_RATE)


class Message:
    __slots__ = ("destination", "injected_at", "attempts", "unknown_user", "held")

    def __init__(self, destination, injected_at, unknown_user):
        self.destination, self.injected_at, self.attempts = destination, injected_at, 0
        self.unknown_user, self.held = unknown_user, False


class Destination:
    def __init__(self, name, receiver):
        self.name, self.receiver = name, receiver
        self.flow = FlowControl()
        self.ready = collections.deque()
        self.sessions = self.in_flight = self.waiting = 0
        self.wake_at = math.inf
        self.wants_connection = False
        self.injected = self.delivered = self.bounced = self.expired = 0
        self.attempts = self.deferrals = self.dfc_held_messages = 0
        # Attempts, delivered, deferred, bounced since the last sample.
        self.interval = [0, 0, 0, 0]


class Mta:
    def __init__(self, env, destinations, weights, seed):
        self.env = env
        self.destinations = destinations
        total = sum(weights)
        self.cumulative = list(itertools.accumulate(w / total for w in weights))
        self.traffic_rng = random.Random(f"{seed}:traffic")
        self.retry_rng = random.Random(f"{seed}:mta")
        self.connections = 0
        self.wants_connection = collections.deque()
        self.latencies = []
        self.deferrals_by_reply = collections.Counter()
        self.bounces_by_reason = collections.Counter()
        self.samples = []
        self.events = 0  # model events, counted as mtasim counts its own

    # -- traffic --------------------------------------------------------------------------
    def traffic(self, messages, over):
        env = self.env
        for n in range(messages):
            due = over * n / messages
            if due > env.now:
                yield env.timeout(due - env.now)
            self.events += 1
            self.inject()

    def inject(self):
        i = bisect.bisect_right(self.cumulative, self.traffic_rng.random())
        destination = self.destinations[min(i, len(self.destinations) - 1)]
        unknown = self.traffic_rng.random() < destination.receiver.unknown_user_rate
        destination.injected += 1
        destination.ready.append(Message(destination, self.env.now, unknown))
        self.dispatch(destination)

    # -- opening sessions -----------------------------------------------------------------
    def dispatch(self, d):
        """Opens as many sessions to `d` as flow control and the connection cap allow."""
        now = self.env.now
        while True:
            self.expire_stale_head(d, now)
            if not d.ready:
                return
            if self.connections >= MAX_CONNECTIONS:
                if not d.wants_connection:
                    d.wants_connection = True
                    self.wants_connection.append(d)
                return
            permit = d.flow.permit(now, d.sessions)
            if permit == "granted":
                message = d.ready.popleft()
                d.sessions += 1
                d.in_flight += 1
                self.connections += 1
                self.env.process(self.session(d, message))
                continue
            self.hold(d)
            if permit != "at_limit":
                self.wake(d, permit)
            return

    def hold(self, d):
        """Counts the ready messages flow control holds back in backoff or suspension."""
        if d.flow.state == NORMAL:
            return
        for message in d.ready:
            if not message.held:
                message.held = True
                d.dfc_held_messages += 1

    def wake(self, d, at):
        if at < d.wake_at:
            d.wake_at = at
            self.env.timeout(at - self.env.now).callbacks.append(
                lambda _event: self.on_wake(d, at))

    def on_wake(self, d, at):
        if d.wake_at != at:
            return
        self.events += 1
        d.wake_at = math.inf
        d.flow.advance(at)
        self.after_flow_change(d)
        self.dispatch(d)

    def after_flow_change(self, d):
        at = d.flow.next_wakeup()
        if at is not None:
            self.wake(d, max(at, self.env.now))

    # -- a session ------------------------------------------------------------------------
    def session(self, d, message):
        env, receiver = self.env, d.receiver
        yield env.timeout(receiver.connect(env.now))
        self.events += 1  # greeting
        done = 0
        while message is not None:
            reply, kind, after = receiver.transaction(env.now, message)
            yield env.timeout(after)
            self.events += 1  # the transaction's reply
            self.finish_attempt(d, message, reply, kind)
            done += 1
            message = None
            while done < MAX_DELIVERIES_PER_CONNECTION:
                now = env.now
                self.expire_stale_head(d, now)
                if not d.ready:
                    break
                permit = d.flow.permit(now, d.sessions - 1)
                if permit == "granted":
                    message = d.ready.popleft()
                    d.in_flight += 1
                    break
                # Wait a little for a rate token; at the limit or suspended, hang up.
                if (permit == "at_limit" or d.flow.state == SUSPENDED
                        or permit - now > SESSION_IDLE_TIMEOUT):
                    break
                yield env.timeout(permit - now)
                self.events += 1  # resume
        self.close(d)

    def close(self, d):
        d.sessions -= 1
        self.connections -= 1
        self.dispatch(d)
        while self.connections < MAX_CONNECTIONS and self.wants_connection:
            waiting = self.wants_connection.popleft()
            waiting.wants_connection = False
            self.dispatch(waiting)

    # -- outcomes -------------------------------------------------------------------------
    def finish_attempt(self, d, message, reply, kind):
        now = self.env.now
        d.in_flight -= 1
        d.attempts += 1
        d.interval[0] += 1
        message.attempts += 1
        floor = d.flow.record(now, kind)
        if kind == "accepted":
            d.delivered += 1
            d.interval[1] += 1
            self.latencies.append(now - message.injected_at)
        elif kind == "permanent":
            d.bounced += 1
            d.interval[3] += 1
            reason = "user_unknown" if reply == USER_UNKNOWN else "blocked"
            self.bounces_by_reason[reason] += 1
        else:
            self.defer(d, message, reply, floor)
        self.after_flow_change(d)

    def defer(self, d, message, reply, floor):
        d.deferrals += 1
        d.interval[2] += 1
        self.deferrals_by_reply[reply] += 1
        age = self.env.now - message.injected_at
        if age >= MAX_AGE:
            d.expired += 1
            return
        scheduled = min(RETRY_INITIAL * RETRY_FACTOR ** (message.attempts - 1), RETRY_MAX)
        delay = max(self.retry_rng.uniform(0.0, scheduled), floor)
        d.waiting += 1
        self.env.timeout(delay).callbacks.append(lambda _event: self.on_due(message))

    def on_due(self, message):
        self.events += 1
        d = message.destination
        d.waiting -= 1
        if self.env.now - message.injected_at >= MAX_AGE:
            d.expired += 1
            return
        d.ready.append(message)
        self.dispatch(d)

    def expire_stale_head(self, d, now):
        ready = d.ready
        while ready and now - ready[0].injected_at >= MAX_AGE:
            ready.popleft()
            d.expired += 1

    # -- measuring ------------------------------------------------------------------------
    def sampler(self, detailed, duration):
        env = self.env
        while True:
            self.sample(detailed)
            if env.now + SAMPLE_EVERY >= duration:
                return
            yield env.timeout(SAMPLE_EVERY)
            self.events += 1

    def sample(self, detailed):
        now = self.env.now
        for d in detailed:
            self.samples.append((now, d.name, len(d.ready), d.waiting, d.in_flight,
                                 *d.interval, d.flow.state, d.flow.limit()))
            d.interval = [0, 0, 0, 0]
        totals = [0, 0, 0, 0, 0, 0, 0]
        for d in self.destinations:
            totals[0] += len(d.ready)
            totals[1] += d.waiting
            totals[2] += d.in_flight
            for i in range(4):
                totals[3 + i] += d.interval[i]
            d.interval = [0, 0, 0, 0]
        self.samples.append((now, "", *totals, "", ""))


def world(receivers, seed):
    """The receivers with their destinations (MX rollup: one per receiver) and shares."""
    named = [("bigmail", BIGMAIL), ("ymail", YMAIL)]
    destinations, weights = [], []
    for name, config in named:
        behaviour = {k: v for k, v in config.items() if k != "share"}
        rng = random.Random(f"{seed}:receiver:{name}")
        destinations.append(Destination(name, Receiver(name, rng, **behaviour)))
        weights.append(config["share"])
    harmonic = sum(k ** -ZIPF_EXPONENT for k in range(1, receivers + 1))
    for k in range(1, receivers + 1):
        name = f"gen-{k:06d}"
        rng = random.Random(f"{seed}:receiver:{name}")
        destinations.append(Destination(name, Receiver(name, rng, **TEMPLATE)))
        weights.append(GENERATED_SHARE * k ** -ZIPF_EXPONENT / harmonic)
    return destinations, weights


def seconds(text):
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


def percentile(ordered, q):
    if not ordered:
        return None
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def simulate(args):
    started = time.perf_counter()
    env = simpy.Environment()
    destinations, weights = world(args.receivers, args.seed)
    mta = Mta(env, destinations, weights, args.seed)
    detailed = destinations[:2 + min(DETAILED_GENERATED, args.receivers)]
    env.process(mta.traffic(args.messages, seconds(args.over)))
    duration = seconds(args.duration)
    env.process(mta.sampler(detailed, duration))
    env.run(until=duration)
    mta.sample(detailed)
    ran = time.perf_counter() - started
    return env, mta, ran


def summary(env, mta, ran):
    ds = mta.destinations
    latencies = sorted(mta.latencies)
    transitions = sorted((t for d in ds for t in d.flow.transitions), key=lambda t: t[0])
    return {
        "injected": sum(d.injected for d in ds),
        "delivered": sum(d.delivered for d in ds),
        "bounced": sum(d.bounced for d in ds),
        "bounces_by_reason": dict(sorted(mta.bounces_by_reason.items())),
        "expired": sum(d.expired for d in ds),
        "queued": sum(len(d.ready) + d.waiting + d.in_flight for d in ds),
        "attempts": sum(d.attempts for d in ds),
        "deferrals": sum(d.deferrals for d in ds),
        "deferrals_by_reply": dict(sorted(mta.deferrals_by_reply.items())),
        "dfc_held_messages": sum(d.dfc_held_messages for d in ds),
        "backoff_entries": sum(d.flow.backoff_entries for d in ds),
        "suspensions": sum(d.flow.suspensions for d in ds),
        "blocks": sum(d.receiver.reputation.blocks for d in ds if d.receiver.reputation),
        "transitions": len(transitions),
        "latency_s": {q: percentile(latencies, p)
                      for q, p in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))},
        "model_events": mta.events,
        # SimPy's own count of scheduled events (process starts, timeouts, process ends).
        "simpy_events": next(env._eid),
        "wall_s": round(ran, 3),
    }


def write_outputs(folder, totals, mta):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "summary.json"), "w") as f:
        json.dump(totals, f, indent=2)
    with open(os.path.join(folder, "timeseries.csv"), "w") as f:
        f.write("time,destination,ready,waiting,in_flight,attempts,delivered,deferred,"
                "bounced,state,concurrency_limit\n")
        for row in mta.samples:
            f.write(",".join(str(v) for v in row) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--receivers", type=int, default=10_000)
    parser.add_argument("--duration", default="2d")
    parser.add_argument("--over", default="1d")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", help="write summary.json and timeseries.csv here")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    env, mta, ran = simulate(args)
    totals = summary(env, mta, ran)
    if args.out:
        write_outputs(args.out, totals, mta)
    if args.json:
        json.dump(totals, sys.stdout, indent=2)
        print()
    else:
        print(f"injected {totals['injected']}  delivered {totals['delivered']}  "
              f"bounced {totals['bounced']}  expired {totals['expired']}  "
              f"still queued {totals['queued']}")
        print(f"attempts {totals['attempts']}  deferrals {totals['deferrals']}  "
              f"backoff entries {totals['backoff_entries']}")
        print(f"model events {totals['model_events']}  simpy events "
              f"{totals['simpy_events']}  wall {ran:.3f} s")


if __name__ == "__main__":
    main()
