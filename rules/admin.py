"""Admin for blocks (validated, versioned and audited through the services), orders, holds,
decisions and risk lists."""

from django import forms
from django.contrib import admin, messages

from rules.models import Block, BlockVersion, Decision, HeldOrder, Order, RiskListEntry
from rules.services import BLOCK_FIELDS, RuleError, block_create, block_update, condition_validate


class BlockForm(forms.ModelForm):
    class Meta:
        model = Block
        fields = list(BLOCK_FIELDS)

    def clean_condition(self):
        try:
            return condition_validate(self.cleaned_data["condition"])
        except RuleError as error:
            raise forms.ValidationError(str(error)) from None


class VersionInline(admin.TabularInline):
    model = BlockVersion
    fields = ("version", "changed_by_label", "changed_at", "snapshot")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    form = BlockForm
    list_display = ("name", "block_id", "action", "status", "priority", "version", "updated_at")
    list_filter = ("status", "action")
    search_fields = ("name", "block_id", "condition")
    readonly_fields = ("block_id", "version", "created_at", "updated_at")
    inlines = [VersionInline]

    def has_delete_permission(self, request, obj=None):
        return False  # disable a block instead: holds and decisions point at it

    def save_model(self, request, obj, form, change):
        values = {
            name: form.cleaned_data[name] for name in BLOCK_FIELDS if name in form.cleaned_data
        }
        try:
            if change:
                saved = block_update(block=obj, actor=request.user, **values)
            else:
                saved = block_create(actor=request.user, **values)
        except RuleError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        obj.pk, obj.block_id, obj.version = saved.pk, saved.block_id, saved.version

    def save_related(self, request, form, formsets, change):
        """Versions are written by the services; there is nothing related to save."""


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(HeldOrder)
class HeldOrderAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "status", "amount", "currency", "block", "created_at")
    list_filter = ("status", "source", "block")
    search_fields = ("id", "order__order_id", "customer_id")
    list_select_related = ("order", "block")
    show_full_result_count = False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("order_id", "customer_id", "amount", "currency", "first_seen_at")
    search_fields = ("order_id", "customer_id")
    show_full_result_count = False


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ("event", "block", "action", "shadow", "order_id", "created_at")
    list_filter = ("action", "shadow")
    list_select_related = ("event", "block")
    show_full_result_count = False


@admin.register(RiskListEntry)
class RiskListEntryAdmin(admin.ModelAdmin):
    list_display = ("list_name", "value", "label", "added_at")
    list_filter = ("list_name",)
    search_fields = ("value", "label")
