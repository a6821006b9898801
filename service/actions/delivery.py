"""From a notification row to a sent message: the policy and templates checked at start, the channels built once.

`load_workflows` is called when the app is created, so a policy that names
a template that does not exist, or a template that does not render, stops
the start with the file and line instead of failing the first customer's
notification. `make_deliver` turns a stored row (template, locale, render
context, channel, recipient, idempotency key) into one send on the
configured channel.
"""
from __future__ import annotations

import aiohttp

from ..config import Settings
from .channels import FileChannel, Recipient, SmtpChannel, WebhookChannel
from ..rows import DueNotification
from .engine import Deliver, SendOutcome
from .policy import Policy, PolicyError, load_policy
from .templates import TemplateProblem, Templates


def load_workflows(settings: Settings) -> tuple[Policy, Templates]:
    policy = load_policy(settings.policy)
    templates = Templates(settings.templates_dir)
    templates.validate()
    missing = sorted(policy.templates() - set(templates.names))
    if missing:
        raise PolicyError(f"the policy names templates that do not exist: {', '.join(missing)} "
                          f"(known: {', '.join(templates.names)})")
    channels = {c for rule in policy.rules if rule.notify for c in (rule.notify.channels or policy.defaults.channels)}
    if "smtp" in channels and not settings.smtp_host:
        raise PolicyError("the policy notifies by smtp but CARRIER_EVENTS_SMTP_HOST is not set")
    if "webhook" in channels and not (settings.notify_webhook_url and settings.notify_webhook_secret):
        raise PolicyError("the policy notifies by webhook but CARRIER_EVENTS_NOTIFY_WEBHOOK_URL/_SECRET are not set")
    return policy, templates


def make_deliver(settings: Settings, templates: Templates, session: aiohttp.ClientSession) -> Deliver:
    channels: dict[str, object] = {"file": FileChannel(settings.notify_file)}
    if settings.smtp_host:
        channels["smtp"] = SmtpChannel(settings.smtp_host, settings.smtp_port, settings.smtp_sender,
                                       username=settings.smtp_username, password=settings.smtp_password,
                                       starttls=settings.smtp_starttls)
    if settings.notify_webhook_url and settings.notify_webhook_secret:
        channels["webhook"] = WebhookChannel(settings.notify_webhook_url, settings.notify_webhook_secret,
                                             session=session)

    async def deliver(row: DueNotification) -> SendOutcome:
        channel = channels.get(row.channel)
        if channel is None:
            return SendOutcome(False, f"channel {row.channel} is not configured", None)
        context = row.context
        customer = context.get("customer") or {}
        try:
            rendered = templates.render(row.template, row.locale, context)
        except TemplateProblem as exc:
            return SendOutcome(False, f"template: {exc}", None)
        recipient = Recipient(name=customer.get("name"), email=customer.get("email"), phone=customer.get("phone"),
                              locale=row.locale)
        result = await channel.send(rendered, recipient, row.key)  # type: ignore[attr-defined]
        retry_in = getattr(result, "retry_after", None) or 60.0 * 2 ** min(row.attempts, 6)
        return SendOutcome(result.ok, result.detail, retry_in if result.retryable else None)

    return deliver
