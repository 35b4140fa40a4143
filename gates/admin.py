"""Back office for the gate catalog. Saves and deletes go through gates.services (audited)."""

from django.contrib import admin

from audits.models import Channel
from audits.services import Actor

from . import services
from .models import Category, GateDefinition, GateTemplate


class CatalogAdmin(admin.ModelAdmin):
    def save_model(self, request, obj, form, change):
        services.catalog_save(actor=Actor(request.user, Channel.ADMIN), obj=obj, changed_fields=form.changed_data)

    def delete_model(self, request, obj):
        services.catalog_delete(actor=Actor(request.user, Channel.ADMIN), obj=obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def save_formset(self, request, form, formset, change):
        actor = Actor(request.user, Channel.ADMIN)
        for obj in formset.save(commit=False):
            services.catalog_save(actor=actor, obj=obj)
        for obj in formset.deleted_objects:
            services.catalog_delete(actor=actor, obj=obj)


@admin.register(Category)
class CategoryAdmin(CatalogAdmin):
    list_display = ("name", "key", "order", "is_builtin")
    list_filter = ("is_builtin",)
    search_fields = ("name", "key")
    list_editable = ("order",)


class GateDefinitionInline(admin.TabularInline):
    model = GateDefinition
    fields = ("order", "code", "title", "category", "severity", "weight", "stage_order", "evidence_valid_days")
    extra = 0
    ordering = ("order", "code")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "category":
            # The category list is read once for the whole inline, not once per definition row.
            formfield.choices = [(getattr(value, "value", value), label) for value, label in formfield.choices]
        return formfield


@admin.register(GateTemplate)
class GateTemplateAdmin(CatalogAdmin):
    list_display = ("name", "key", "version", "is_builtin", "gate_count", "updated_at")
    list_filter = ("is_builtin",)
    search_fields = ("name", "key")
    inlines = (GateDefinitionInline,)

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(_gates=Count("definitions"))

    @admin.display(description="Gates", ordering="_gates")
    def gate_count(self, obj):
        return obj._gates


@admin.register(GateDefinition)
class GateDefinitionAdmin(CatalogAdmin):
    list_display = ("code", "title", "template", "category", "severity", "weight", "evidence_valid_days")
    list_filter = ("template", "category", "severity")
    search_fields = ("code", "title", "template__name")
    list_select_related = ("template", "category")
    autocomplete_fields = ("template",)
