using IfApi.Application;
using IfApi.Auth;
using System.Text.Json;
using IfApi.Domain;
using IfApi.Frames;
using IfApi.OpenApi;
using IfApi.Vnets;
using Microsoft.AspNetCore.Http.HttpResults;

namespace IfApi.Interfaces;

/// <summary>Interfaces: create (SIOCIFCREATE2), destroy (SIOCIFDESTROY), list (SIOCGIFCONF), get, patch (SIOCSIF*).</summary>
public static class InterfacesApi
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 1000;

    public static RouteGroupBuilder MapInterfacesApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/interfaces").WithTags("Interfaces");

        group.MapPost("/", Create).WithName("CreateInterface").RequireScope(Scopes.Write)
            .WithHeaders(request: [Headers.IdempotencyKey], response: [Headers.ETag, Headers.IdempotentReplayed])
            .WithSummary("Create an interface (ifconfig NAME create)")
            .WithDescription("The name picks the cloner: `tap` takes the lowest free unit, `tap7` asks for unit 7, `epair` creates a pair, `tap0.100` a vlan on tap0. Or declare the whole interface: `cloner` (and `unit`), `name` to rename the clone, `mtu`, `metric`, `description`, `up`, `flags`, `lladdr`, `groups`, all in one transaction, as `ifconfig tap create name wan0 mtu 9000 group lan up` is one command; what is declared reads back unchanged. With an `Idempotency-Key` header (up to 255 printable characters), a retry with the same key and body within 24 hours answers what the first create answered (with `Idempotent-Replayed: true`) and creates nothing; the same key with another body is 409 EEXIST.")
            .Accepts<CreateInterfaceRequest>("application/json")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(409).ProducesProblem(422).ProducesProblem(503);

        group.MapPut("/{ref}", Put).WithName("PutInterface").RequireScope(Scopes.Write)
            .WithHeaders(request: [Headers.IfMatch, Headers.IfNoneMatch], response: [Headers.ETag])
            .WithSummary("Create or replace an interface by name (upsert)")
            .WithDescription("The whole desired interface. When no interface has the name, it is created with exactly that name (201): the name picks the cloner (`tap5`), or `cloner` makes one and names it. Otherwise the interface becomes what is declared (200): attributes declared are set, the others go back to their defaults (mtu 1500, metric 0, no description, down, default flags; the lladdr stays), its groups become `all`, its cloner's and those declared. The cloner, unit and a vlan's tag and parent cannot change (409 EEXIST). `If-Match` guards a replace (and refuses a create); `If-None-Match: *` creates only (412 ESTALE when the name exists).")
            .Accepts<CreateInterfaceRequest>("application/json")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(409).ProducesProblem(412).ProducesProblem(422).ProducesProblem(503);

        group.MapGet("/", List).WithName("ListInterfaces").RequireScope(Scopes.Read)
            .WithSummary("List interfaces by index (SIOCGIFCONF)")
            .WithDescription("Ordered by index. Pass `next` from one page as `after` to get the following one.")
            .ProducesProblem(400).ProducesProblem(503);

        group.MapGet("/{ref}", Get).WithName("GetInterface").RequireScope(Scopes.Read)
            .WithHeaders(response: [Headers.ETag])
            .WithSummary("Get an interface by name or id")
            .ProducesProblem(404).ProducesProblem(503);

        group.MapPatch("/{ref}", Patch).WithName("PatchInterface").RequireScope(Scopes.Write)
            .WithHeaders(request: [Headers.IfMatch], response: [Headers.ETag])
            .WithSummary("Rename an interface or change its attributes (ifconfig NAME name|description|mtu|metric|up|down|ether)")
            .WithDescription("A JSON merge patch, applied all or nothing: `name`, `description` (null or \"\" clears), `mtu` (72–65535), `metric`, `up`, `flags` (the full set of changeable flags wanted; broadcast, simplex, multicast, running and the like keep their value), `lladdr`. A patch that changes nothing leaves the version alone. `If-Match` is honoured.")
            .Accepts<PatchInterfaceRequest>("application/merge-patch+json", "application/json")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(409).ProducesProblem(412).ProducesProblem(422).ProducesProblem(503);

        group.MapDelete("/{ref}", Destroy).WithName("DestroyInterface").RequireScope(Scopes.Write)
            .WithHeaders(request: [Headers.IfMatch])
            .WithSummary("Destroy an interface (ifconfig NAME destroy)")
            .WithDescription("Destroying either end of an epair destroys both. Interfaces not made by a cloner and a cloner's minimum units (lo0) cannot be destroyed. `If-Match` is honoured.")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(412).ProducesProblem(503);

        return group;
    }

    /// <summary>SIOCIFCREATE2 and what else is declared, optionally under an <c>Idempotency-Key</c>.</summary>
    public static async Task<Created<InterfaceResponse>> Create(CreateInterfaceRequest body, DeclarationService declarations, HttpContext http, CancellationToken ct)
    {
        var (info, replayed) = await declarations.CreateAsync(body.ToDeclaration(), body.ToParams(), Idempotency.Key(http.Request, body), Actor.Of(http), ct);
        var created = InterfaceResponse.From(info);
        http.Response.Headers.ETag = created.ETag;
        if (replayed)
            http.Response.Headers[Idempotency.ReplayedHeader] = "true";
        return TypedResults.Created($"{VnetAccess.V1(http)}/interfaces/{created.Id}", created);
    }

    /// <summary>The upsert by name (never by id): create exactly that name, or make the interface what is declared.</summary>
    public static async Task<Results<Created<InterfaceResponse>, Ok<InterfaceResponse>>> Put(string @ref, CreateInterfaceRequest body,
        DeclarationService declarations, FramePlane plane, HttpContext http, CancellationToken ct)
    {
        var (info, created) = await declarations.PutAsync(@ref, body.ToDeclaration(), body.ToParams(), Preconditions.HasIfMatch(http.Request),
            Preconditions.IfMatch(http.Request), Preconditions.IfNoneMatchAny(http.Request), Actor.Of(http), ct);
        var ifp = InterfaceResponse.From(info, InterfaceStats.From(plane.Stats(info.Id)));
        http.Response.Headers.ETag = ifp.ETag;
        return created ? TypedResults.Created($"{VnetAccess.V1(http)}/interfaces/{ifp.Id}", ifp) : TypedResults.Ok(ifp);
    }

    public static async Task<Ok<InterfaceList>> List(InterfaceService interfaces, FramePlane plane, CancellationToken ct, string? cloner = null, string? group = null, int? limit = null, string? after = null)
    {
        var n = limit ?? DefaultLimit;
        if (n is < 1 or > MaxLimit)
            throw new IfError(Errno.EINVAL, $"limit must be between 1 and {MaxLimit}", Ioctl.IfGConf);
        // A filter no cloner or group could be named is malformed, not a filter that matches nothing
        // (and PostgreSQL refuses to compare text with a NUL in it).
        if (cloner is not null)
            ClonerSpec.ValidateName(cloner, Ioctl.IfGConf);
        if (group is not null)
            GroupNames.Validate(group, Ioctl.IfGConf);
        var page = await interfaces.ListAsync(cloner, group, n, Cursor.Decode(after, Ioctl.IfGConf), ct);
        return TypedResults.Ok(new InterfaceList(
            page.Items.Select(i => InterfaceResponse.From(i, InterfaceStats.From(plane.Stats(i.Id)))).ToList(),
            page.NextAfterIndex is int next ? Cursor.Encode(next) : null));
    }

    public static async Task<Ok<InterfaceResponse>> Get(string @ref, InterfaceService interfaces, FramePlane plane, HttpContext http, CancellationToken ct)
    {
        var info = await interfaces.GetAsync(@ref, ct);
        var ifp = InterfaceResponse.From(info, InterfaceStats.From(plane.Stats(info.Id)));
        http.Response.Headers.ETag = ifp.ETag;
        return TypedResults.Ok(ifp);
    }

    /// <summary>SIOCSIFNAME, SIOCSIFDESCR, SIOCSIFMTU, SIOCSIFFLAGS, SIOCSIFMETRIC, SIOCSIFLLADDR.</summary>
    public static async Task<Ok<InterfaceResponse>> Patch(string @ref, MergePatch body, InterfaceService interfaces, FramePlane plane, HttpContext http, CancellationToken ct)
    {
        var info = body.Patch.IsMove()
            ? await MoveAsync(@ref, body.Patch.Vnet!, interfaces, http, ct)
            : await interfaces.PatchAsync(@ref, body.Patch, Preconditions.IfMatch(http.Request), Actor.Of(http), ct);
        var ifp = InterfaceResponse.From(info, InterfaceStats.From(plane.Stats(info.Id)));
        http.Response.Headers.ETag = ifp.ETag;
        return TypedResults.Ok(ifp);
    }

    /// <summary>
    /// SIOCSIFVNET: a host key with <c>admin</c> moves the interface from the vnet the path is in to the
    /// one named, which it must be able to see (ENXIO otherwise, as for any vnet named).
    /// </summary>
    private static async Task<InterfaceInfo> MoveAsync(string @ref, string target, InterfaceService interfaces, HttpContext http, CancellationToken ct)
    {
        VnetAccess.CheckHostKey(http, "move interfaces between vnets", Ioctl.SetVnet);
        if (!AuthSetup.Grants(http.User, Scopes.Admin))
            throw new IfError(Errno.EPERM, "moving interfaces between vnets needs the 'admin' scope", Ioctl.SetVnet);
        return await interfaces.MoveAsync(@ref, target, Preconditions.IfMatch(http.Request), Actor.Of(http), ct);
    }

    /// <summary>SIOCIFDESTROY.</summary>
    public static async Task<NoContent> Destroy(string @ref, InterfaceService interfaces, HttpContext http, CancellationToken ct)
    {
        await interfaces.DestroyAsync(@ref, Preconditions.IfMatch(http.Request), Actor.Of(http), ct);
        return TypedResults.NoContent();
    }
}
