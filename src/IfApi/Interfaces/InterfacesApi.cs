using IfApi.Application;
using IfApi.Auth;
using System.Text.Json;
using IfApi.Domain;
using IfApi.Frames;
using Microsoft.AspNetCore.Http.HttpResults;

namespace IfApi.Interfaces;

/// <summary>Interfaces: create (SIOCIFCREATE2), destroy (SIOCIFDESTROY), list (SIOCGIFCONF), get, patch (SIOCSIF*).</summary>
public static class InterfacesApi
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 1000;

    public static RouteGroupBuilder MapInterfacesApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/interfaces").WithTags("Interfaces").ProducesProblem(401).ProducesProblem(403);

        group.MapPost("/", Create).WithName("CreateInterface").RequireScope(Scopes.Write)
            .WithSummary("Create an interface (ifconfig NAME create)")
            .WithDescription("The name picks the cloner: `tap` takes the lowest free unit, `tap7` asks for unit 7, `epair` creates a pair, `tap0.100` a vlan on tap0. With an `Idempotency-Key` header (up to 255 printable characters), a retry with the same key and body within 24 hours answers what the first create answered (with `Idempotent-Replayed: true`) and creates nothing; the same key with another body is 409 EEXIST.")
            .Accepts<CreateInterfaceRequest>("application/json")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(409).ProducesProblem(422).ProducesProblem(503);

        group.MapGet("/", List).WithName("ListInterfaces").RequireScope(Scopes.Read)
            .WithSummary("List interfaces by index (SIOCGIFCONF)")
            .WithDescription("Ordered by index. Pass `next` from one page as `after` to get the following one.")
            .ProducesProblem(400).ProducesProblem(503);

        group.MapGet("/{ref}", Get).WithName("GetInterface").RequireScope(Scopes.Read)
            .WithSummary("Get an interface by name or id")
            .ProducesProblem(404).ProducesProblem(503);

        group.MapPatch("/{ref}", Patch).WithName("PatchInterface").RequireScope(Scopes.Write)
            .WithSummary("Rename an interface or change its attributes (ifconfig NAME name|description|mtu|metric|up|down|ether)")
            .WithDescription("A JSON merge patch, applied all or nothing: `name`, `description` (null or \"\" clears), `mtu` (72–65535), `metric`, `up`, `flags` (the full set of changeable flags wanted; broadcast, simplex, multicast, running and the like keep their value), `lladdr`. A patch that changes nothing leaves the version alone. `If-Match` is honoured.")
            .Accepts<PatchInterfaceRequest>("application/merge-patch+json", "application/json")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(409).ProducesProblem(412).ProducesProblem(422).ProducesProblem(503);

        group.MapDelete("/{ref}", Destroy).WithName("DestroyInterface").RequireScope(Scopes.Write)
            .WithSummary("Destroy an interface (ifconfig NAME destroy)")
            .WithDescription("Destroying either end of an epair destroys both. Interfaces not made by a cloner and a cloner's minimum units (lo0) cannot be destroyed. `If-Match` is honoured.")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(412).ProducesProblem(503);

        return group;
    }

    /// <summary>SIOCIFCREATE2, optionally under an <c>Idempotency-Key</c>.</summary>
    public static async Task<Created<InterfaceResponse>> Create(CreateInterfaceRequest body, InterfaceService interfaces, HttpContext http, CancellationToken ct)
    {
        if (body.Name is null)
            throw new IfError(Errno.EINVAL, "name is required", Ioctl.IfCreate);
        var p = body.Params is { } q ? new CreateParams(q.Vlan, q.Parent, q.Lladdr) : null;
        var (info, replayed) = await interfaces.CreateAsync(body.Name, p, Idempotency.Key(http.Request, body), Actor.Of(http), ct);
        var created = InterfaceResponse.From(info);
        http.Response.Headers.ETag = created.ETag;
        if (replayed)
            http.Response.Headers["Idempotent-Replayed"] = "true";
        return TypedResults.Created($"/v1/interfaces/{created.Id}", created);
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
    public static async Task<Ok<InterfaceResponse>> Patch(string @ref, JsonElement body, InterfaceService interfaces, FramePlane plane, HttpContext http, CancellationToken ct)
    {
        var info = await interfaces.PatchAsync(@ref, PatchBody.Parse(body), Preconditions.IfMatch(http.Request), Actor.Of(http), ct);
        var ifp = InterfaceResponse.From(info, InterfaceStats.From(plane.Stats(info.Id)));
        http.Response.Headers.ETag = ifp.ETag;
        return TypedResults.Ok(ifp);
    }

    /// <summary>SIOCIFDESTROY.</summary>
    public static async Task<NoContent> Destroy(string @ref, InterfaceService interfaces, HttpContext http, CancellationToken ct)
    {
        await interfaces.DestroyAsync(@ref, Preconditions.IfMatch(http.Request), Actor.Of(http), ct);
        return TypedResults.NoContent();
    }
}
