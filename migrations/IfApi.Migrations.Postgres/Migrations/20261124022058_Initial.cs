using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace IfApi.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "cloners",
                columns: table => new
                {
                    seq = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    name = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    max_unit = table.Column<int>(type: "integer", nullable: false),
                    no_group = table.Column<bool>(type: "boolean", nullable: false),
                    min_ifs = table.Column<int>(type: "integer", nullable: false),
                    attached_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_cloners", x => x.seq);
                    table.UniqueConstraint("AK_cloners_name", x => x.name);
                });

            migrationBuilder.CreateTable(
                name: "free_ranges",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    pool = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    lo = table.Column<int>(type: "integer", nullable: false),
                    hi = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_free_ranges", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "meta",
                columns: table => new
                {
                    key = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    value = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_meta", x => x.key);
                });

            migrationBuilder.CreateTable(
                name: "interfaces",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    if_index = table.Column<int>(type: "integer", nullable: false),
                    name = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    cloner = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: true),
                    unit = table.Column<int>(type: "integer", nullable: true),
                    flags = table.Column<int>(type: "integer", nullable: false),
                    mtu = table.Column<int>(type: "integer", nullable: false),
                    metric = table.Column<int>(type: "integer", nullable: false),
                    description = table.Column<string>(type: "character varying(4096)", maxLength: 4096, nullable: true),
                    lladdr = table.Column<string>(type: "character varying(17)", maxLength: 17, nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    version = table.Column<long>(type: "bigint", nullable: false),
                    peer_id = table.Column<Guid>(type: "uuid", nullable: true),
                    parent_id = table.Column<Guid>(type: "uuid", nullable: true),
                    vlan_tag = table.Column<int>(type: "integer", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_interfaces", x => x.id);
                    table.ForeignKey(
                        name: "FK_interfaces_cloners_cloner",
                        column: x => x.cloner,
                        principalTable: "cloners",
                        principalColumn: "name",
                        onDelete: ReferentialAction.Restrict);
                    table.ForeignKey(
                        name: "FK_interfaces_interfaces_parent_id",
                        column: x => x.parent_id,
                        principalTable: "interfaces",
                        principalColumn: "id",
                        onDelete: ReferentialAction.SetNull);
                });

            migrationBuilder.CreateTable(
                name: "group_members",
                columns: table => new
                {
                    interface_id = table.Column<Guid>(type: "uuid", nullable: false),
                    group_name = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_group_members", x => new { x.interface_id, x.group_name });
                    table.ForeignKey(
                        name: "FK_group_members_interfaces_interface_id",
                        column: x => x.interface_id,
                        principalTable: "interfaces",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_free_ranges_pool_hi",
                table: "free_ranges",
                columns: new[] { "pool", "hi" });

            migrationBuilder.CreateIndex(
                name: "IX_free_ranges_pool_lo",
                table: "free_ranges",
                columns: new[] { "pool", "lo" });

            migrationBuilder.CreateIndex(
                name: "IX_group_members_group_name_interface_id",
                table: "group_members",
                columns: new[] { "group_name", "interface_id" });

            migrationBuilder.CreateIndex(
                name: "IX_interfaces_cloner_unit",
                table: "interfaces",
                columns: new[] { "cloner", "unit" });

            migrationBuilder.CreateIndex(
                name: "IX_interfaces_if_index",
                table: "interfaces",
                column: "if_index",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_interfaces_name",
                table: "interfaces",
                column: "name",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_interfaces_parent_id",
                table: "interfaces",
                column: "parent_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "free_ranges");

            migrationBuilder.DropTable(
                name: "group_members");

            migrationBuilder.DropTable(
                name: "meta");

            migrationBuilder.DropTable(
                name: "interfaces");

            migrationBuilder.DropTable(
                name: "cloners");
        }
    }
}
