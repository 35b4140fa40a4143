from django import template

from ..selectors import unread_count

register = template.Library()


@register.inclusion_tag("notifications/_bell_link.html", takes_context=True)
def notification_bell(context):
    """The header link to the notifications with the number of unread ones (one COUNT query)."""
    user = context["request"].user if "request" in context else None
    return {"count": unread_count(user) if user is not None else 0, "user": user}
