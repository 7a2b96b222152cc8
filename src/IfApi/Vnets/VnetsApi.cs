using IfApi.Application;
using IfApi.Auth;
using IfApi.Domain;
using Microsoft.AspNetCore.Http.HttpResults;

namespace IfApi.Vnets;

/// <summary>Create a vnet.</summary>
/// <param name="Name">1–15 of a-z, 0-9, '_' and '-', starting with a letter.</param>
/// <param name="MaxInterfaces">How many interfaces it may hold (default <c>Vnets:MaxInterfaces</c>, 1024).</param>
public sealed record CreateVnetRequest(string? Name, int? MaxInterfaces);

/// <summary>A virtual network stack (VIMAGE): its own interfaces, indexes, groups, cloners and events.</summary>
/// <param name="Name">Its name; <c>host</c> is the host's own stack.</param>
/// <param name="Interfaces">How many interfaces are in it now.</param>
/// <param name="MaxInterfaces">How many it may hold; <c>host</c>'s is its whole index space.</param>
/// <param name="CreatedAt">When it was created.</param>
public sealed record VnetResponse(string Name, int Interfaces, int MaxInterfaces, DateTimeOffset CreatedAt)
{
    public static VnetResponse From(VnetInfo v) => new(v.Name, v.Interfaces, v.MaxInterfaces, v.CreatedAt);
}

/// <summary>The vnets the caller can see.</summary>
public sealed record VnetList(IReadOnlyList<VnetResponse> Items);

public static class VnetsApi
{
    public static RouteGroupBuilder MapVnetsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/vnets").WithTags("Vnets");

        group.MapGet("/", List).WithName("ListVnets").RequireScope(Scopes.Read)
            .WithSummary("List the vnets (jls)")
            .WithDescription("`host` always exists. A key bound to a vnet sees its own only.")
            .ProducesProblem(503);

        group.MapGet("/{vnet}", Get).WithName("GetVnet").RequireScope(Scopes.Read)
            .WithSummary("Get one vnet")
            .WithDescription("Unknown, or not the caller's own for a key bound to a vnet: 404 `ENXIO`.")
            .ProducesProblem(404).ProducesProblem(503);

        group.MapPost("/", Create).WithName("CreateVnet").RequireScope(Scopes.Admin)
            .WithSummary("Create a vnet (a jail with its own network stack)")
            .WithDescription("""
                It gets its own built-in cloners with their own unit pools (`lo0` included), its own interface indexes, groups and events.
                Needs `admin` and a host key (a key bound to a vnet: 403 `EPERM`). Taken, `host` included: 409 `EEXIST`.
                """)
            .Accepts<CreateVnetRequest>("application/json")
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(503);

        group.MapDelete("/{vnet}", Delete).WithName("DeleteVnet").RequireScope(Scopes.Admin)
            .WithSummary("Delete a vnet (as a jail is removed)")
            .WithDescription("""
                In one transaction: interfaces in it whose home is another vnet return home (a name taken there: 409 `EEXIST`, nothing changed), then every interface it made is destroyed wherever it is now, `lo0` included.
                `host`: 409 `EBUSY`. Needs `admin` and a host key.
                """)
            .ProducesProblem(404).ProducesProblem(409).ProducesProblem(503);

        return group;
    }

    public static async Task<Ok<VnetList>> List(VnetService vnets, HttpContext http, CancellationToken ct)
    {
        var all = await vnets.ListAsync(ct);
        var bound = VnetAccess.BoundTo(http);
        return TypedResults.Ok(new VnetList(all.Where(v => bound is null || v.Name == bound).Select(VnetResponse.From).ToList()));
    }

    public static async Task<Ok<VnetResponse>> Get(string vnet, VnetService vnets, HttpContext http, CancellationToken ct)
    {
        var found = await VisibleAsync(http, vnets, vnet, ct);
        return TypedResults.Ok(VnetResponse.From(found));
    }

    public static async Task<Created<VnetResponse>> Create(CreateVnetRequest body, VnetService vnets, HttpContext http, CancellationToken ct)
    {
        VnetAccess.CheckHostKey(http, "create vnets", Ioctl.VnetCreate);
        var created = await vnets.CreateAsync(body.Name ?? "", body.MaxInterfaces, Actor.Of(http), ct);
        return TypedResults.Created($"/v1/vnets/{created.Name}", VnetResponse.From(created));
    }

    public static async Task<NoContent> Delete(string vnet, VnetService vnets, VnetDirectory directory, HttpContext http, CancellationToken ct)
    {
        await VisibleAsync(http, vnets, vnet, ct);
        VnetAccess.CheckHostKey(http, "delete vnets", Ioctl.VnetRemove);
        await vnets.DeleteAsync(vnet, Actor.Of(http), ct);
        directory.Forget(vnet);
        return TypedResults.NoContent();
    }

    /// <summary>The vnet if the caller can see it; ENXIO otherwise, the same whether it exists or not.</summary>
    private static async Task<VnetInfo> VisibleAsync(HttpContext http, VnetService vnets, string vnet, CancellationToken ct) =>
        VnetAccess.BoundTo(http) is { } bound && bound != vnet || await vnets.FindAsync(vnet, ct) is not { } found
            ? throw new IfError(Errno.ENXIO, $"no vnet '{vnet}'")
            : found;
}
