using IfApi.Application;
using IfApi.Auth;
using IfApi.Domain;
using IfApi.Vnets;
using Microsoft.AspNetCore.Http.HttpResults;

namespace IfApi.Cloners;

/// <summary>Attach a cloner of a built-in kind under its own name.</summary>
/// <param name="Name">1–9 lowercase letters.</param>
/// <param name="Kind">loop, tap, bridge, epair or vlan.</param>
/// <param name="MaxUnit">Highest unit, 0–32767 (default 32767).</param>
/// <param name="NoGroup">Do not put clones in a group named after the cloner.</param>
/// <param name="MinIfs">Units created at attach that cannot be destroyed one by one.</param>
public sealed record AttachClonerRequest(string? Name, string? Kind, int? MaxUnit, bool? NoGroup, int? MinIfs);

/// <summary>An interface cloner (<c>struct if_clone</c>).</summary>
public sealed record ClonerResponse(string Name, string Kind, int MaxUnit, bool AutoUnit, bool NoGroup, int MinIfs, int Interfaces)
{
    public static ClonerResponse From(ClonerInfo c) => new(c.Name, c.Kind.WireName(), c.MaxUnit, c.AutoUnit, c.NoGroup, c.MinIfs, c.Interfaces);
}

/// <summary>SIOCIFGCLONERS: how many cloners there are and (up to the limit) which, newest first.</summary>
public sealed record ClonerList(int Total, IReadOnlyList<ClonerResponse> Cloners);

public static class ClonersApi
{
    public static RouteGroupBuilder MapClonersApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/cloners").WithTags("Cloners");

        group.MapGet("/", List).WithName("ListCloners").RequireScope(Scopes.Read)
            .WithSummary("List interface cloners (ifconfig -C)")
            .WithDescription("Newest first. `limit` bounds how many are returned; `total` is always the full count.")
            .ProducesProblem(400).ProducesProblem(503);

        group.MapGet("/{name}", Get).WithName("GetCloner").RequireScope(Scopes.Read)
            .WithSummary("Get one cloner")
            .ProducesProblem(404).ProducesProblem(503);

        group.MapPost("/", Attach).WithName("AttachCloner").RequireScope(Scopes.Admin)
            .WithSummary("Attach a cloner (if_clone_attach)")
            .WithDescription("Creates its minIfs units in the same transaction.")
            .Accepts<AttachClonerRequest>("application/json")
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(503);

        group.MapDelete("/{name}", Detach).WithName("DetachCloner").RequireScope(Scopes.Admin)
            .WithSummary("Detach a cloner (if_clone_detach)")
            .WithDescription("Destroys every interface it made, minIfs ones too, then the cloner.")
            .ProducesProblem(404).ProducesProblem(503);

        return group;
    }

    public static async Task<Ok<ClonerList>> List(ClonerService cloners, CancellationToken ct, int? limit = null)
    {
        var (total, page) = await cloners.ListAsync(limit, ct);
        return TypedResults.Ok(new ClonerList(total, page.Select(ClonerResponse.From).ToList()));
    }

    public static async Task<Ok<ClonerResponse>> Get(string name, ClonerService cloners, CancellationToken ct) =>
        TypedResults.Ok(ClonerResponse.From(await cloners.GetAsync(name, ct)));

    public static async Task<Created<ClonerResponse>> Attach(AttachClonerRequest body, ClonerService cloners, HttpContext http, CancellationToken ct)
    {
        var spec = ClonerSpec.Create(body.Name, body.Kind, body.MaxUnit, body.NoGroup, body.MinIfs);
        var attached = ClonerResponse.From(await cloners.AttachAsync(spec, Actor.Of(http), ct));
        return TypedResults.Created($"{VnetAccess.V1(http)}/cloners/{attached.Name}", attached);
    }

    public static async Task<NoContent> Detach(string name, ClonerService cloners, HttpContext http, CancellationToken ct)
    {
        await cloners.DetachAsync(name, Actor.Of(http), ct);
        return TypedResults.NoContent();
    }
}
