"""The team pages (SPEC §17): ``/teams/``, ``/teams/<slug>/`` and the invitation link.

Plain HTML forms posting to these views (no script); every rule is
``authentication.memberships``', so a refusal here reads as the API's does. A change answers a
redirect back to the page (post/redirect/get); a refusal renders the page again with the
message and the refusal's status (400, 403, 410).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from authentication import audit, keys, memberships, teams
from authentication.memberships import Refused
from authentication.models import ApiKey, Invitation, Membership, Role, Team
from authentication.models.teams import slug_validator
from authentication.slugs import free_slug
from authentication.web import sign_up


class TeamForm(forms.Form):
    name = forms.CharField(max_length=100)
    slug = forms.CharField(
        max_length=50,
        required=False,
        validators=[slug_validator],
        help_text="a–z, 0–9 and -; made from the name if empty.",
    )


class KeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    scope = forms.ChoiceField(choices=ApiKey.Scope.choices)


#: The session key holding a key just made, until the team page has shown it once.
NEW_KEY = "pulseguard_new_key"


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER, required=False)


def _team(request: HttpRequest, slug: str) -> Team:
    """The team of ``slug`` if the user is in it (staff: any team), else 404."""
    found = Team.objects.filter(slug=slug)
    if not request.user.is_staff:
        found = found.filter(pk__in=list(teams.roles(request.user)))
    team = found.first()
    if team is None:
        raise Http404("You are in no team with this slug.")
    return team


def _first_error(form: forms.Form) -> Refused:
    field, errors = next(iter(form.errors.items()))
    return Refused(f"{field}: {errors[0]}" if field != "__all__" else errors[0], field=field)


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    """``/teams/``: the user's teams and a form to make one."""
    form = TeamForm(request.POST or None)
    status = 200
    if request.method == "POST":
        try:
            if not form.is_valid():
                raise _first_error(form)
            data = form.cleaned_data
            slug = data["slug"] or free_slug(data["name"], lambda s: Team.objects.filter(slug=s).exists())
            team = memberships.create_team(request, data["name"], slug)
        except Refused as refused:
            form.add_error(refused.field if refused.field in form.fields else None, refused.message)
            status = refused.status
        else:
            messages.success(request, f"Team {team.name} created: you are its owner.")
            return redirect("web-team", slug=team.slug)
    mine = teams.roles(request.user)
    rows = [(team, mine[team.pk]) for team in Team.objects.filter(pk__in=list(mine)).order_by("name", "slug")]
    return render(request, "teams/teams.html", {"nav": "teams", "rows": rows, "form": form}, status=status)


def _team_page(
    request: HttpRequest, team: Team, *, status: int = 200, error: str = "", invite_form: InviteForm | None = None
) -> HttpResponse:
    user = request.user
    is_admin = teams.may(user, team.pk, Role.ADMIN)
    is_owner = teams.may(user, team.pk, Role.OWNER)
    grantable = [(value, label) for value, label in Role.choices if is_owner or value != Role.OWNER]
    members = []
    for m in Membership.objects.filter(team=team).select_related("user").order_by("user__username"):
        mine = m.user_id == user.pk
        may_change = is_admin and (is_owner or m.role != Role.OWNER)
        members.append({"m": m, "mine": mine, "may_change": may_change, "may_remove": may_change or mine})
    context = {
        "nav": "teams",
        "team": team,
        "role": teams.role_in(user, team.pk),
        "is_admin": is_admin,
        "is_owner": is_owner,
        "grantable": grantable,
        "members": members,
        "invitations": memberships.pending(team).select_related("invited_by") if is_admin else [],
        "api_keys": ApiKey.objects.filter(team=team).select_related("created_by") if is_admin else [],
        "new_key": request.session.pop(NEW_KEY, None) if is_admin else None,
        "invite_form": invite_form or InviteForm(),
        "settings_form": TeamForm(initial={"name": team.name, "slug": team.slug}),
        "error": error,
    }
    return render(request, "teams/team.html", context, status=status)


@login_required
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """``/teams/<slug>/``: members, invitations and the team's settings, for the roles allowed."""
    return _team_page(request, _team(request, slug))


def _change(request: HttpRequest, team: Team, done: str, act: Any, *args: Any) -> HttpResponse:
    """Run ``act(request, *args)``; success: back to the team page with ``done``; refused: the page with why."""
    try:
        act(request, *args)
    except Refused as refused:
        return _team_page(request, team, status=refused.status, error=refused.message)
    messages.success(request, done)
    return redirect("web-team", slug=team.slug)


@login_required
@require_POST
def team_settings(request: HttpRequest, slug: str) -> HttpResponse:
    team = _team(request, slug)
    form = TeamForm(request.POST)
    if not form.is_valid():
        return _team_page(request, team, status=400, error=_first_error(form).message)
    changes: dict[str, Any] = {"name": form.cleaned_data["name"], "slug": form.cleaned_data["slug"] or team.slug}
    if teams.may(request.user, team.pk, Role.OWNER):  # the box is only on an owner's form
        changes["require_two_factor"] = request.POST.get("require_two_factor") == "on"
    try:
        memberships.update_team(request, team, changes)
    except Refused as refused:
        team.refresh_from_db()
        return _team_page(request, team, status=refused.status, error=refused.message)
    messages.success(request, "Team settings saved.")
    return redirect("web-team", slug=team.slug)


@login_required
@require_POST
def team_delete(request: HttpRequest, slug: str) -> HttpResponse:
    team = _team(request, slug)
    name = team.name
    if request.POST.get("confirm", "").strip() != team.slug:
        return _team_page(request, team, status=400, error=f"Type the slug {team.slug} to confirm the deletion.")
    try:
        memberships.delete_team(request, team)
    except Refused as refused:
        return _team_page(request, team, status=refused.status, error=refused.message)
    messages.success(request, f"Team {name} deleted.")
    return redirect("web-teams")


def _membership(team: Team, user_id: int) -> Membership:
    # user__id, not user_id: through the relation Django range-checks the id (past 64 bits: none).
    membership = Membership.objects.filter(team=team, user__id=user_id).select_related("user", "team").first()
    if membership is None:
        raise Http404("No such member.")
    return membership


@login_required
@require_POST
def member_role(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    team = _team(request, slug)
    membership = _membership(team, user_id)
    role = request.POST.get("role", "")
    done = f"{membership.user.get_username()} is now {role}."
    return _change(request, team, done, memberships.change_role, membership, role)


@login_required
@require_POST
def member_remove(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    team = _team(request, slug)
    membership = _membership(team, user_id)
    leaving = membership.user_id == request.user.pk
    try:
        memberships.remove_member(request, membership)
    except Refused as refused:
        return _team_page(request, team, status=refused.status, error=refused.message)
    if leaving:
        messages.success(request, f"You left the team {team.name}.")
        return redirect("web-teams")
    messages.success(request, f"{membership.user.get_username()} was removed from the team.")
    return redirect("web-team", slug=team.slug)


@login_required
@require_POST
def invitation_send(request: HttpRequest, slug: str) -> HttpResponse:
    team = _team(request, slug)
    form = InviteForm(request.POST)
    try:
        if not form.is_valid():
            raise _first_error(form)
        memberships.invite(request, team, form.cleaned_data["email"], form.cleaned_data["role"] or Role.MEMBER)
    except Refused as refused:
        if refused.field in form.fields:
            form.add_error(refused.field, refused.message)
        return _team_page(request, team, status=refused.status, error=refused.message, invite_form=form)
    messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
    return redirect("web-team", slug=team.slug)


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    team = _team(request, slug)
    invitation = Invitation.objects.filter(team=team, pk=pk, accepted_at__isnull=True).select_related("team").first()
    if invitation is None:
        raise Http404("No such invitation.")
    return _change(request, team, f"The invitation to {invitation.email} was revoked.", memberships.revoke, invitation)


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """``/invitations/<token>/``: signed in, the team and role with an Accept button; anonymous, a
    sign-up form with the invited address filled in (and a link to sign in), then Accept."""
    try:
        found = memberships.find_invitation(token)
    except Refused as refused:
        return render(request, "teams/invitation_gone.html", {"message": refused.message}, status=refused.status)
    here = reverse("web-invitation", kwargs={"token": token})
    if not request.user.is_authenticated:
        return _invitation_sign_up(request, found, here)
    status, error = 200, ""
    if request.method == "POST":
        try:
            membership = memberships.accept(request, token)
        except Refused as refused:
            if refused.status == 410:
                return render(request, "teams/invitation_gone.html", {"message": refused.message}, status=410)
            status, error = refused.status, refused.message
        else:
            messages.success(request, f"Welcome to {membership.team.name}: you are {membership.role}.")
            return redirect("web-team", slug=membership.team.slug)
    email_differs = (request.user.email or "").casefold() != found.email.casefold()
    context = {"nav": "teams", "invitation": found, "token": token, "error": error, "email_differs": email_differs}
    return render(request, "teams/invitation.html", context, status=status)


def _invitation_sign_up(request: HttpRequest, found: Invitation, here: str) -> HttpResponse:
    values, errors, status = {"username": "", "email": found.email}, {}, 200
    if request.method == "POST":
        values, errors, user = sign_up(request)
        if user is not None:
            return redirect(here)
        status = 400
    context = {"invitation": found, "values": values, "errors": errors, "here": here}
    return render(request, "teams/invitation_signup.html", context, status=status)


def _admin_team(request: HttpRequest, slug: str) -> Team:
    """The team of ``slug`` where the user is an admin or owner (404 not in it, 403 below admin)."""
    team = _team(request, slug)
    if not teams.may(request.user, team.pk, Role.ADMIN):
        raise PermissionDenied("API keys are for the team's admins and owners.")
    return team


@login_required
@require_POST
def key_create(request: HttpRequest, slug: str) -> HttpResponse:
    """Make a key; the team page shows it once (from the session), then never again."""
    team = _admin_team(request, slug)
    form = KeyForm(request.POST)
    if not form.is_valid():
        return _team_page(request, team, status=400, error=_first_error(form).message)
    with transaction.atomic():
        key, raw = keys.create(team, form.cleaned_data["name"], form.cleaned_data["scope"], request.user)
        audit.record(request, "key_create", team_id=team.pk, obj=key)
    request.session[NEW_KEY] = {"name": key.name, "scope": key.scope, "key": raw}
    return redirect("web-team", slug=team.slug)


@login_required
@require_POST
def key_revoke(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    team = _admin_team(request, slug)
    key = ApiKey.objects.filter(team=team, pk=pk).first()
    if key is None:
        raise Http404("No such key.")
    with transaction.atomic():
        audit.record(request, "key_delete", team_id=team.pk, obj=key)
        key.delete()
    messages.success(request, f"The key {key.name} was revoked: programs using it are refused from now on.")
    return redirect("web-team", slug=team.slug)
