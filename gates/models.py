"""The gate catalog: categories, templates and the gate definitions a project is built from."""

from django.db import models
from django.db.models import Q

from projects import readiness

SEVERITY_CHOICES = [(s, readiness.SEVERITY_LABELS[s]) for s in readiness.SEVERITIES]


class Category(models.Model):
    """A group of gates (technical, security, …). The seven built-ins are seeded; more may be added."""

    key = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    order = models.PositiveSmallIntegerField(default=100)
    is_builtin = models.BooleanField(default=False)

    class Meta:
        ordering = ["order", "name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name


class GateTemplate(models.Model):
    """A named, versioned set of gate definitions with default sign-off roles and stages.

    `stages` is a list of {"name", "order", "min_score", "min_closed", "required_roles"};
    `signoff_roles` a list of role names. Both are copied into a project created from it.
    """

    key = models.SlugField(max_length=80)
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_builtin = models.BooleanField(default=False)
    signoff_roles = models.JSONField(default=list, blank=True)
    stages = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="gatetemplate_unique_key_version"),
        ]

    def __str__(self):
        return f"{self.name} v{self.version}"


class GateDefinition(models.Model):
    """One gate of a template: what must be true, how to prove it, how much it weighs."""

    template = models.ForeignKey(GateTemplate, on_delete=models.CASCADE, related_name="definitions")
    code = models.CharField(max_length=20)
    title = models.CharField(max_length=300)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="definitions")
    severity = models.CharField(max_length=10, choices=SEVERITY_CHOICES, default=readiness.MEDIUM)
    weight = models.PositiveSmallIntegerField(blank=True, help_text="Defaults from the severity (blocker 8 … low 1).")
    guidance = models.TextField(blank=True, help_text='What "closed" means.')
    verification = models.TextField(blank=True, help_text="How to prove it.")
    evidence_valid_days = models.PositiveIntegerField(null=True, blank=True)
    stage_order = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The template stage (by order) this gate belongs to; empty = first."
    )
    check_spec = models.JSONField(null=True, blank=True, help_text="Optional automated check.")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["template", "order", "code"]
        constraints = [
            models.UniqueConstraint(fields=["template", "code"], name="gatedefinition_unique_code"),
            models.CheckConstraint(
                condition=Q(severity__in=readiness.SEVERITIES), name="gatedefinition_valid_severity"
            ),
            models.CheckConstraint(condition=Q(weight__gt=0), name="gatedefinition_positive_weight"),
        ]

    def __str__(self):
        return f"{self.code} {self.title}"

    def save(self, *args, **kwargs):
        if not self.weight:
            self.weight = readiness.default_weight(self.severity)
        super().save(*args, **kwargs)
