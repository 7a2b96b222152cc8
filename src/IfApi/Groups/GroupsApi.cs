using IfApi.Application;
using IfApi.Auth;
using IfApi.Domain;
using IfApi.Interfaces;
using IfApi.OpenApi;
using IfApi.Vnets;
using Microsoft.AspNetCore.Http.HttpResults;

namespace IfApi.Groups;

/// <summary>SIOCAIFGROUP: join a group.</summary>
/// <param name="Group">At most 15 bytes, not ending in a digit.</param>
public sealed record AddGroupRequest(string? Group);

/// <summary>SIOCGIFGROUP: the groups of one interface, <c>all</c> first.</summary>
public sealed record InterfaceGroups(IReadOnlyList<string> Groups);

/// <summary>SIOCGIFGMEMB: a group and its members' names, by index.</summary>
public sealed record GroupResponse(string Name, IReadOnlyList<string> Members)
{
    public static GroupResponse From(GroupInfo g) => new(g.Name, g.Members);
}

/// <summary>Every group there is (a group exists while it has members).</summary>
public sealed record GroupList(IReadOnlyList<GroupResponse> Items);

/// <summary>Interface groups (<c>ifconfig NAME group G</c>, <c>-group G</c>, <c>ifconfig -g G</c>).</summary>
public static class GroupsApi
{
    public static IEndpointRouteBuilder MapGroupsApi(this IEndpointRouteBuilder routes)
    {
        var ofInterface = routes.MapGroup("/interfaces/{ref}/groups").WithTags("Groups");

        ofInterface.MapGet("/", GetOf).WithName("GetInterfaceGroups").RequireScope(Scopes.Read)
            .WithSummary("The groups of an interface (SIOCGIFGROUP)")
            .ProducesProblem(404).ProducesProblem(503);

        ofInterface.MapPost("/", Add).WithName("AddInterfaceGroup").RequireScope(Scopes.Write)
            .WithHeaders(request: [Headers.IfMatch], response: [Headers.ETag])
            .WithSummary("Join a group (ifconfig NAME group G, SIOCAIFGROUP)")
            .WithDescription("Already a member: EEXIST. The group exists from its first member on. `If-Match` is honoured.")
            .Accepts<AddGroupRequest>("application/json")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(409).ProducesProblem(412).ProducesProblem(503);

        ofInterface.MapPut("/{group}", Put).WithName("PutInterfaceGroup").RequireScope(Scopes.Write)
            .WithHeaders(request: [Headers.IfMatch], response: [Headers.ETag])
            .WithSummary("Be in a group (idempotent SIOCAIFGROUP)")
            .WithDescription("201 when the interface joined, 200 when it was a member already. `If-Match` is honoured.")
            .Produces<InterfaceGroups>(201)
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(412).ProducesProblem(503);

        ofInterface.MapDelete("/{group}", Remove).WithName("RemoveInterfaceGroup").RequireScope(Scopes.Write)
            .WithHeaders(request: [Headers.IfMatch], response: [Headers.ETag])
            .WithSummary("Leave a group (ifconfig NAME -group G, SIOCDIFGROUP)")
            .WithDescription("Not a member: ENOENT. Leaving `all` is allowed, as in the kernel. The group ends with its last member. `If-Match` is honoured.")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(412).ProducesProblem(503);

        var groups = routes.MapGroup("/groups").WithTags("Groups");

        groups.MapGet("/", List).WithName("ListGroups").RequireScope(Scopes.Read)
            .WithSummary("Every group with its members")
            .ProducesProblem(503);

        groups.MapGet("/{group}", Get).WithName("GetGroup").RequireScope(Scopes.Read)
            .WithSummary("The members of a group (ifconfig -g G, SIOCGIFGMEMB)")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(503);

        return routes;
    }

    public static async Task<Ok<InterfaceGroups>> GetOf(string @ref, GroupService groups, CancellationToken ct) =>
        TypedResults.Ok(new InterfaceGroups(await groups.GroupsOfAsync(@ref, ct)));

    public static async Task<Created<InterfaceGroups>> Add(string @ref, AddGroupRequest body, GroupService groups, HttpContext http, CancellationToken ct)
    {
        if (body.Group is null)
            throw new IfError(Errno.EINVAL, "group is required", Ioctl.AddGroup);
        var (_, ifp) = await groups.JoinAsync(@ref, body.Group, idempotent: false, Preconditions.IfMatch(http.Request), Actor.Of(http), ct);
        http.Response.Headers.ETag = Preconditions.ETag(ifp.Version);
        return TypedResults.Created($"{VnetAccess.V1(http)}/groups/{Uri.EscapeDataString(body.Group)}", new InterfaceGroups(ifp.Groups));
    }

    public static async Task<Results<Created<InterfaceGroups>, Ok<InterfaceGroups>>> Put(string @ref, string group, GroupService groups, HttpContext http, CancellationToken ct)
    {
        var (added, ifp) = await groups.JoinAsync(@ref, group, idempotent: true, Preconditions.IfMatch(http.Request), Actor.Of(http), ct);
        http.Response.Headers.ETag = Preconditions.ETag(ifp.Version);
        var answer = new InterfaceGroups(ifp.Groups);
        return added ? TypedResults.Created($"{VnetAccess.V1(http)}/groups/{Uri.EscapeDataString(group)}", answer) : TypedResults.Ok(answer);
    }

    public static async Task<NoContent> Remove(string @ref, string group, GroupService groups, HttpContext http, CancellationToken ct)
    {
        var ifp = await groups.LeaveAsync(@ref, group, Preconditions.IfMatch(http.Request), Actor.Of(http), ct);
        http.Response.Headers.ETag = Preconditions.ETag(ifp.Version);
        return TypedResults.NoContent();
    }

    public static async Task<Ok<GroupList>> List(GroupService groups, CancellationToken ct) =>
        TypedResults.Ok(new GroupList((await groups.ListAsync(ct)).Select(GroupResponse.From).ToList()));

    public static async Task<Ok<GroupResponse>> Get(string group, GroupService groups, CancellationToken ct) =>
        TypedResults.Ok(GroupResponse.From(await groups.GetAsync(group, ct)));
}
